import runpy
import sys

nested = runpy.run_path('../../mime-nested-1000-downgrade/input.py')
text = nested['message']('Hello down there').replace(
    'Content-Transfer-Encoding: 8bit\n\nGrüße oben',
    'Content-Transfer-Encoding: quoted-printable\n\nGr=C3=BC=C3=9Fe oben', 1)
sys.stdout.buffer.write(text.replace('\n', '\r\n').encode('ascii'))
