"""Maps the three top-level folders onto the `rnnsuite` namespace, finding every subpackage.

A fixed `packages = [...]` list silently drops new subpackages from the wheel; listing them with
find_packages per root keeps the wheel complete (tests/test_packaging.py checks it).
"""

from setuptools import find_packages, setup

ROOTS = {"rnnsuite.core": "core", "rnnsuite.plugins": "plugins", "rnnsuite.apps": "apps"}

packages = []
package_dir = {}
for name, folder in ROOTS.items():
    packages.append(name)
    package_dir[name] = folder
    for sub in find_packages(folder, exclude=["tests", "tests.*"]):
        packages.append(f"{name}.{sub}")

setup(packages=packages, package_dir=package_dir)
