# Modelled on: https://github.com/MorvanZhou/PyTorch-Tutorial/blob/4e5122c3734dcdc9ace164c2a87fbd412ca1d431/tutorial-contents/302_classification.py
# Source: Net(n_feature, n_hidden, n_output) with self.hidden and self.out layers and F.relu applied in
#   forward(), print(net), SGD, CrossEntropyLoss, 100 full-batch steps, the prediction by torch.max of
#   F.softmax(out).
# What differs: the five 2-D clusters from load_training_data(), 64 hidden units, Adam, 600 steps.
# Mistake: none (the functional F.relu is an activation as much as nn.ReLU is).
# corpus: assignment=gaussian-mixture expect=pass
import torch
import torch.nn.functional as F
from gradekit import load_training_data

x, y = load_training_data()


class Net(torch.nn.Module):
    def __init__(self, n_feature, n_hidden, n_output):
        super(Net, self).__init__()
        self.hidden = torch.nn.Linear(n_feature, n_hidden)
        self.out = torch.nn.Linear(n_hidden, n_output)

    def forward(self, x):
        x = F.relu(self.hidden(x))
        x = self.out(x)
        return x


net = Net(n_feature=2, n_hidden=64, n_output=5)
print(net)
optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
loss_func = torch.nn.CrossEntropyLoss()
for t in range(600):
    out = net(x)
    loss = loss_func(out, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
prediction = torch.max(F.softmax(out, dim=1), 1)[1]
print("accuracy", (prediction == y).float().mean().item())
