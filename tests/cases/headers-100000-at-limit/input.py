# 100,000 header fields, exactly 1 MiB of header block: delivered byte
# for byte.  (The generator is headers-100000-over's.)
import runpy
import sys
over = runpy.run_path('../headers-100000-over/input.py')
sys.stdout.write(over['message'](over['LIMIT']))
