"""A class for the similarity check: two students with the same model (the second renamed every
variable and moved the code around, keeping the seeds they copied), and a third who trained the
same architecture on their own, written their own way. All three are graded for real (paraboloid)."""

from __future__ import annotations

ORIGINAL = """import torch
import torch.nn as nn
import numpy as np
from sklearn.model_selection import train_test_split

torch.manual_seed(7)
np.random.seed(7)
x = np.random.random(1000)
y = np.random.random(1000)
z = x**2 + y**2
input_data = torch.Tensor(np.transpose([x, y]))
output_data = torch.Tensor(z)
input_training, input_validation, output_training, output_validation = train_test_split(
    input_data, output_data, random_state=42, test_size=0.15, shuffle=True)


class NonLinearRegression(torch.nn.Module):
    def __init__(self):
        super(NonLinearRegression, self).__init__()
        self.linear_1 = nn.Linear(in_features=2, out_features=25)
        self.act_1 = nn.ReLU()
        self.linear_2 = nn.Linear(in_features=25, out_features=10)
        self.act_2 = nn.ReLU()
        self.linear_3 = nn.Linear(in_features=10, out_features=1)

    def forward(self, y):
        y = self.linear_1(y)
        y = self.act_1(y)
        y = self.linear_2(y)
        y = self.act_2(y)
        y = self.linear_3(y)
        y_pred = y
        return y_pred


model_nonlinear = NonLinearRegression()
optimizer = torch.optim.Adam(model_nonlinear.parameters())
criterion = nn.MSELoss(reduction='sum')

epoch_max = 2500
for epoch in range(epoch_max):
    ix = torch.randint(0, input_training.shape[0], size=(64,))
    total_loss = 0
    y_pred = model_nonlinear(input_training[ix])
    loss = criterion(y_pred.squeeze(), output_training[ix])
    optimizer.zero_grad()
    loss.backward()
    total_loss += float(loss)
    if (total_loss < 0.001):
        print("Num steps: " + str(epoch))
        break
    optimizer.step()
"""

# Every name changed, the class first, the imports shuffled, comments added: the same program.
RENAMED = """import numpy as np
import torch.nn as nn
from sklearn.model_selection import train_test_split
import torch


# my network for the paraboloid
class ParaboloidNet(torch.nn.Module):
    def __init__(self):
        super(ParaboloidNet, self).__init__()
        self.fc1 = nn.Linear(in_features=2, out_features=25)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(in_features=25, out_features=10)
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(in_features=10, out_features=1)

    def forward(self, inp):
        inp = self.fc1(inp)
        inp = self.relu1(inp)
        inp = self.fc2(inp)
        inp = self.relu2(inp)
        inp = self.fc3(inp)
        out = inp
        return out


torch.manual_seed(7)
np.random.seed(7)
a = np.random.random(1000)
b = np.random.random(1000)
c = a**2 + b**2
features = torch.Tensor(np.transpose([a, b]))
targets = torch.Tensor(c)
feat_train, feat_val, targ_train, targ_val = train_test_split(
    features, targets, random_state=42, test_size=0.15, shuffle=True)

net = ParaboloidNet()
opt = torch.optim.Adam(net.parameters())
loss_fn = nn.MSELoss(reduction='sum')

n_iters = 2500
for it in range(n_iters):
    batch = torch.randint(0, feat_train.shape[0], size=(64,))
    running = 0
    out = net(feat_train[batch])
    l = loss_fn(out.squeeze(), targ_train[batch])
    opt.zero_grad()
    l.backward()
    running += float(l)
    if (running < 0.001):
        print("Num steps: " + str(it))  # stop early
        break
    opt.step()
"""

# The same layers (2-25-10-1, ReLU), found independently: a grid of inputs, Sequential, full epochs
# over shuffled mini-batches, SGD with momentum and its own seed.
INDEPENDENT = """import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(2024)
rng = np.random.default_rng(2024)
points = rng.uniform(0.0, 1.0, size=(1200, 2)).astype(np.float32)
heights = (points ** 2).sum(axis=1, keepdims=True).astype(np.float32)
dataset = TensorDataset(torch.from_numpy(points), torch.from_numpy(heights))
loader = DataLoader(dataset, batch_size=32, shuffle=True)

model = nn.Sequential(
    nn.Linear(2, 25), nn.ReLU(),
    nn.Linear(25, 10), nn.ReLU(),
    nn.Linear(10, 1),
)
optimiser = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
mse = nn.MSELoss()

for epoch_number in range(40):
    epoch_total = 0.0
    for xb, yb in loader:
        optimiser.zero_grad()
        error = mse(model(xb), yb)
        error.backward()
        optimiser.step()
        epoch_total += error.item() * len(xb)
    if epoch_number % 10 == 0:
        print(f"epoch {epoch_number}: mean squared error {epoch_total / len(dataset):.5f}")
"""

CLASS = {"original.py": ORIGINAL, "renamed.py": RENAMED, "independent.py": INDEPENDENT}
