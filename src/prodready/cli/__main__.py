"""`python -m prodready.cli`: the same as `prodready`."""

from prodready.cli import main

if __name__ == "__main__":
    main()
