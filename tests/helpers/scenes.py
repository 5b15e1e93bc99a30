"""Scenes several test modules share."""

from compose.sources import parse_program

#: Two red circles left of a blue square, a yellow star above it: small enough to draw exactly,
#: with a count, colors and two relations for planted faults to break.
SHAPES_SCENE = parse_program("""\
seed 4
object circle "a red circle" count 2 color red
object square "a blue square" color blue
object star "a yellow star" color yellow
circle left of square
star above square
""")
