# mime-nested-1000-downgrade's message with only 7-bit text below the 32
# levels postern follows: the 8-bit leaf at the top is re-encoded, the
# rest, nesting and all, goes byte for byte.
import runpy
import sys

nested = runpy.run_path('../mime-nested-1000-downgrade/input.py')
sys.stdout.write(nested['message']('Hello down there'))
