import os
import sys

# ``python -m prodready`` puts the working directory -- usually the repository being scanned --
# first on sys.path, so a committed ``yaml.py`` or ``pathspec.py`` would be imported in place of
# the library. prodready itself is already imported (from where it is installed) by now.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from prodready.cli import main

if __name__ == "__main__":
    main()
