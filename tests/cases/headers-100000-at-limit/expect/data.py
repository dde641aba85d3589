import runpy
import sys
over = runpy.run_path('../../headers-100000-over/input.py')
sys.stdout.buffer.write(over['message'](over['LIMIT']).replace('\n', '\r\n').encode())
