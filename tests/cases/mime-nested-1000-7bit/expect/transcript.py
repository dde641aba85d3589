import sys
sys.path.insert(0, "../../..")
import casegen  # noqa: E402
casegen.plain_transcript()
