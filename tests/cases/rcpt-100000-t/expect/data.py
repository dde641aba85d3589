import sys
sys.path.insert(0, '..')
import input  # noqa: E402  (the case's input.py)
sys.stdout.buffer.write(input.data())
