# Modelled on: https://github.com/shangruobing/torch-tutorial (main.py and its train/test modules)
# Source: a small tutorial project: argparse flags (--device, --cpu, --seed, --epochs, --lr,
#   --weight_decay), an `if __name__ == "__main__":` guard, a Dataset class, DataLoader(batch_size=4,
#   shuffle=True, drop_last=True), Adam with weight decay, a CosineAnnealingLR stepped every batch, and
#   torch.save(model.state_dict(), ".../model.pth") at the end.
# What differs: XOR's four corners from load_training_data(), a 2-16-16-1 ReLU network returning logits
#   with BCEWithLogitsLoss, 300 epochs; the source's early `return` inside its batch loop is left out.
# Mistake: none; the grader runs the script as __main__ with no arguments, so the defaults apply.
# corpus: assignment=xor expect=pass
import argparse

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from gradekit import load_training_data


class XorDataset(Dataset):
    def __init__(self):
        self.x, self.y = load_training_data()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, x):
        return self.layers(x)


def train(model, loader, optimizer, scheduler, device):
    criterion = nn.BCEWithLogitsLoss()
    model.train()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = criterion(model(x).squeeze(-1), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
    return loss.item()


def main():
    parser = argparse.ArgumentParser(description="XOR")
    parser.add_argument("--device", default="0")
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--seed", type=int, default=3407)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--weight_decay", type=float, default=1e-5)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cpu" if args.cpu or not torch.cuda.is_available() else f"cuda:{args.device}")
    loader = DataLoader(XorDataset(), batch_size=4, shuffle=True, drop_last=True)
    model = Model().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * len(loader))
    for epoch in range(args.epochs):
        loss = train(model, loader, optimizer, scheduler, device)
        if epoch % 10 == 0:
            print(f"epoch {epoch} loss {loss:.4f}")
    torch.save(model.state_dict(), "model.pth")
    return model


if __name__ == "__main__":
    model = main()
