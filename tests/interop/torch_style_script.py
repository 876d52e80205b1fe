"""A PyTorch program, written as for PyTorch; tests/interop/test_torch_alias.py runs it under `python -m blaze.run`."""
import argparse

import torch
import torch.backends.cudnn as cudnn
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 1)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 8, generator=g)
    return x, torch.tanh(x.sum(1, keepdim=True) / 3)


def train(rank, model, steps):
    x, y = data()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        F.mse_loss(model(x[rank::2]), y[rank::2]).backward()
        opt.step()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    cudnn.benchmark = True
    torch.manual_seed(1)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = Net().to(device)
    x, y = data()
    first = F.mse_loss(model(x), y).item()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = StepLR(opt, step_size=10, gamma=0.5)
    model.train()
    for _ in range(args.steps):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        after = F.mse_loss(model(x), y).item()
    # Hogwild, as PyTorch's mnist_hogwild example: spawn start method, a shared model
    mp.set_start_method("spawn", force=True)
    model.share_memory()
    before_hogwild = model.fc1.weight.detach().clone()
    ps = [mp.Process(target=train, args=(rank, model, 10)) for rank in range(2)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    moved = not torch.equal(before_hogwild, model.fc1.weight.detach())
    print(f"alias={torch.__name__} nn={nn.__name__} first={first:.4f} after={after:.4f} "
          f"hogwild_moved={moved} exitcodes={','.join(str(p.exitcode) for p in ps)}")


if __name__ == "__main__":
    main()
