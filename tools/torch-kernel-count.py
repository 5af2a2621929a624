# torch-kernel-count.py: runs a PyTorch script (torch_decode.py) under the
# PyTorch profiler and prints how many CUDA kernels it saw, so the shim's own
# launch count (cuLaunchKernel + cuLaunchKernelEx, GRAPHSHIM_STATS_FILE) can
# be compared with it. Memcpy and memset activities are not kernels.
#   python3 tools/torch-kernel-count.py path/to/torch_decode.py
import runpy
import sys

import torch
from torch.profiler import ProfilerActivity, profile

with profile(activities=[ProfilerActivity.CUDA]) as prof:
    runpy.run_path(sys.argv[1], run_name="__main__")
kernels = sum(1 for e in prof.events()
              if e.device_type == torch.autograd.DeviceType.CUDA
              and not e.name.startswith(("Memcpy", "Memset")))
print(f"profiler_kernels={kernels}", flush=True)
