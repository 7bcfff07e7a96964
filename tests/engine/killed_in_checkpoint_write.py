"""`offon-jit ARGS`, killed with SIGKILL at its first checkpoint's commit (orbax has written the checkpoint
into its temporary directory and is about to rename it into place).

    python tests/engine/killed_in_checkpoint_write.py run ...
"""

import os
import signal
import sys

from orbax.checkpoint._src.path import atomicity


def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


for temporary_path in (atomicity.AtomicRenameTemporaryPath, atomicity.CommitFileTemporaryPath):
    temporary_path.finalize = die

from experiments.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
