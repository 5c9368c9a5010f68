# Modelled on: https://runebook.dev/en/docs/pytorch/generated/torch.nn.functional.sigmoid ("This is a
#   super common mistake! People often apply sigmoid to the output of their neural network and then use
#   nn.CrossEntropyLoss") and https://discuss.pytorch.org/t/cross-entropy-loss-is-not-decreasing/43814
# Source: a multi-class network whose forward() ends in a sigmoid, trained with nn.CrossEntropyLoss; the
#   loss barely falls.
# What differs: the three rings of the assignment, a 2-16-3 network with F.relu, SGD with momentum, 120 full-batch epochs.
# Mistake the guide and the forum reply name: CrossEntropyLoss expects raw, unnormalised outputs (logits).
# corpus: assignment=concentric-circles expect=fail cause=sigmoid_then_cross_entropy
import torch
import torch.nn as nn
import torch.nn.functional as F
from gradekit import load_training_data

X, y = load_training_data()


class RingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 16)
        self.l2 = nn.Linear(16, 3)

    def forward(self, x):
        return F.sigmoid(self.l2(F.relu(self.l1(x))))


model = RingNet()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
for epoch in range(120):
    optimizer.zero_grad()
    loss = criterion(model(X), y)
    loss.backward()
    optimizer.step()
    if epoch % 50 == 0:
        print(f"epoch {epoch}: loss {loss.item():.4f}")
