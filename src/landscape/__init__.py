"""landscape: the quadratic approximation to neural-network loss landscapes, as a self-rebuilding paper.

The library (one module per concept): ``config``, ``data``, ``models``, ``params``, ``store``,
``train``, ``hessian``, ``linesearch``, ``trajectory``, ``spectra``, ``checkpoint``, ``report``;
``analyses`` (one module per research question) and ``figures`` (one module per figure).
"""

import warnings

# torch.func's import path triggers this deprecation notice from inside PyTorch itself; it is not ours to fix.
warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
