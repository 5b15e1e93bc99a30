"""Writes prompts_benchmarks.jsonl: hand-made prompts in the styles of the LMD benchmark and
HRS-Bench, with exact ground truth in the shape of t2icompbench/gold_train.jsonl.

Run from the repository root: python tests/data/make_prompts_benchmarks.py
"""
import json

rows = []
def add(src, prompt, objects, relations=(), forbid=()):
    d = {"prompt": prompt, "objects": objects, "relations": [list(r) for r in relations], "source": src}
    if forbid: d["forbid"] = list(forbid)
    rows.append(d)
one = lambda **kw: dict(count=1, **kw)
# LMD-style negation
for p, f in [("A realistic photo of a scene without bottles", "bottle"), ("A realistic photo of a scene without laptops", "laptop"),
             ("a photo of a street with no cars", "car"), ("an image of a kitchen without any cups", "cup"),
             ("A realistic photo of a scene without books", "book"), ("a living room with no dogs", "dog"),
             ("A cartoon drawing of a park without people", "person"), ("a scene with no bowls", "bowl"),
             ("a beach without umbrellas", "umbrella"), ("A Realistic Photo Of A Scene Without Chairs", "chair")]:
    add("handmade/negation", p, {}, forbid=[f])
add("handmade/negation", "a table with a cup but no plates", {"table": one(), "cup": one()}, (), ["plate"])
add("handmade/negation", "a red car and no bicycles", {"car": one(color="red")}, forbid=["bicycle"])
add("handmade/negation", "a dog on a sofa, without cats", {"dog": one(), "sofa": one()}, [("dog", "on", "sofa")], ["cat"])
# LMD-style spatial adverbials
for a, pa, b, pb, rel in [("car", "left", "dog", "right", "left_of"), ("cup", "right", "laptop", "left", "right_of"),
                          ("backpack", "top", "bowl", "bottom", "above"), ("bottle", "bottom", "chair", "top", "below"),
                          ("cat", "left", "book", "right", "left_of"), ("lamp", "top", "suitcase", "bottom", "above")]:
    art_a = "an" if a[0] in "aeiou" else "a"; art_b = "an" if b[0] in "aeiou" else "a"
    add("handmade/lmd_spatial", f"A realistic photo of a scene with {art_a} {a} on the {pa} and {art_b} {b} on the {pb}",
        {a: one(), b: one()}, [(a, rel, b)])
add("handmade/lmd_spatial", "a scene with a Dog on the Left and a Cat on the Right", {"dog": one(), "cat": one()}, [("dog", "left_of", "cat")])
add("handmade/lmd_spatial", "on the left a red apple, on the right a green pear", {"apple": one(color="red"), "pear": one(color="green")}, [("apple", "left_of", "pear")])
add("handmade/lmd_spatial", "a vase at the top and a clock at the bottom", {"vase": one(), "clock": one()}, [("vase", "above", "clock")])
# HRS-style spatial, several relations
add("handmade/hrs_spatial", "a car on the left of a horse and a dog below the horse",
    {"car": one(), "horse": one(), "dog": one()}, [("car", "left_of", "horse"), ("dog", "below", "horse")])
add("handmade/hrs_spatial", "a cat above and to the right of a dog", {"cat": one(), "dog": one()}, [("cat", "above", "dog"), ("cat", "right_of", "dog")])
add("handmade/hrs_spatial", "a bird below and to the left of a kite", {"bird": one(), "kite": one()}, [("bird", "below", "kite"), ("bird", "left_of", "kite")])
add("handmade/hrs_spatial", "a car and a dog under a horse and on the left of an airplane",
    {"car": one(), "dog": one(), "horse": one(), "airplane": one()},
    [("car", "under", "horse"), ("dog", "under", "horse"), ("car", "left_of", "airplane"), ("dog", "left_of", "airplane")])
add("handmade/hrs_spatial", "a bench on the right of a bicycle, and a bird above the bench",
    {"bench": one(), "bicycle": one(), "bird": one()}, [("bench", "right_of", "bicycle"), ("bird", "above", "bench")])
add("handmade/hrs_spatial", "a giraffe to the right of an elephant and a zebra to the left of the elephant",
    {"giraffe": one(), "elephant": one(), "zebra": one()}, [("giraffe", "right_of", "elephant"), ("zebra", "left_of", "elephant")])
add("handmade/hrs_spatial", "A Red Kite Above A Green Field", {"kite": one(color="red"), "field": one(color="green")}, [("kite", "above", "field")])
add("handmade/hrs_spatial", "a clock above a television and below a painting",
    {"clock": one(), "television": one(), "painting": one()}, [("clock", "above", "television"), ("clock", "below", "painting")])
add("handmade/hrs_spatial", "a lamp on the top of a desk", {"lamp": one(), "desk": one()}, [("lamp", "above", "desk")])
add("handmade/hrs_spatial", "a mouse on the bottom of a keyboard", {"mouse": one(), "keyboard": one()}, [("mouse", "below", "keyboard")])
add("handmade/hrs_spatial", "a fox hidden by a tree", {"fox": one(), "tree": one()}, [("fox", "behind", "tree")])
add("handmade/hrs_spatial", "a duck on side of a pond", {"duck": one(), "pond": one()}, [("duck", "next_to", "pond")])
add("handmade/hrs_spatial", "two cats to the left of a sofa and a lamp to the right of the sofa",
    {"cat": {"count": 2}, "sofa": one(), "lamp": one()}, [("cat", "left_of", "sofa"), ("lamp", "right_of", "sofa")])
add("handmade/hrs_spatial", "a train on the right of a bus, a car in front of the bus",
    {"train": one(), "bus": one(), "car": one()}, [("train", "right_of", "bus"), ("car", "in_front_of", "bus")])
add("handmade/hrs_spatial", "a cat to the upper left of a dog", {"cat": one(), "dog": one()}, [("cat", "above", "dog"), ("cat", "left_of", "dog")])
add("handmade/hrs_spatial", "a kite on the lower right of a tree", {"kite": one(), "tree": one()}, [("kite", "below", "tree"), ("kite", "right_of", "tree")])
add("handmade/lmd_spatial", "a scene with a lamp in the top left corner and a chair in the bottom right corner",
    {"lamp": one(), "chair": one()}, [("lamp", "above", "chair"), ("lamp", "left_of", "chair")])
add("handmade/negation", "a photo of a scene without any zebras", {}, forbid=["zebra"])
add("handmade/negation", "two horses in a field and no cows", {"horse": {"count": 2}}, forbid=["cow"])
# words outside the tables and colours
add("handmade/attribute", "a red rose and a white carnation", {"rose": one(color="red"), "carnation": one(color="white")})
add("handmade/attribute", "a silver spoon and a gold fork", {"spoon": one(color="silver"), "fork": one(color="gold")})
add("handmade/attribute", "a beige sofa next to a brown table", {"sofa": one(color="beige"), "table": one(color="brown")}, [("sofa", "next_to", "table")])
add("handmade/attribute", "a green acorn on the left of a yellow leaf", {"acorn": one(color="green"), "leaf": one(color="yellow")}, [("acorn", "left_of", "leaf")])
add("handmade/attribute", "a piece of cheese beside a knife", {"cheese": one(), "knife": one()}, [("cheese", "next_to", "knife")])
add("handmade/attribute", "a turquoise vase and a maroon cushion", {"vase": one(color="turquoise"), "cushion": one(color="maroon")})
add("handmade/attribute", "three brown dogs and a white goat", {"dog": {"count": 3, "color": "brown"}, "goat": one(color="white")})
add("handmade/attribute", "A Purple Daisy And A Yellow Violet", {"daisy": one(color="purple"), "violet": one(color="yellow")})
with open("tests/data/prompts_benchmarks.jsonl", "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows)
print(len(rows))
