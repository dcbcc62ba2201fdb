"""Print the options table of recbole_csrec/keys.py, or (--write) rewrite properties/overall.yaml
and the README's options table from it: python run_scripts/write_keys.py [--write]"""
import sys

from recbole_csrec.keys import main

if __name__ == "__main__":
    sys.exit(main())
