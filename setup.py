"""Package layout: the import package ``compose`` plus two top-level folders mapped into it.

``grammars/`` ships as ``compose.grammars`` (package data, so it loads from a wheel) and
``solvers/`` as ``compose.solvers``; the metadata lives in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

MAPPED = {"compose.grammars": "grammars", "compose.solvers": "solvers"}

packages = find_packages(include=["compose", "compose.*"])
for package, folder in MAPPED.items():
    packages += [package + sub[len(folder):] for sub in find_packages(include=[folder, folder + ".*"])]
    packages.append(package)

setup(packages=sorted(set(packages)), package_dir=MAPPED)
