# Modelled on: https://datascience.stackexchange.com/questions/115368/pytorch-neural-network-that-tries-to-approximate-z-i-x-i2-y-i2-not-conve
# Source: a mechanical-engineering-technology instructor's first network: x, y from np.random.random(1000),
#   torch.Tensor(np.transpose([x, y])) inputs, torch.Tensor(z) targets of shape [N], a train_test_split of
#   15%, class NonLinearRegression 2-10-5-1 with ReLU modules, SGD at lr 1e-6, MSELoss(reduction='sum'),
#   20,000 full-batch epochs with an early break on a tiny loss, optimizer.zero_grad() never called.
# What differs: 3,000 epochs instead of 20,000 (the loss does not move either way).
# Mistake the accepted fix names (shared/examples): the [N, 1] prediction against the [N] target, the
#   gradients never zeroed, the tiny learning rate (Adam, mini-batches of 64, zero_grad fix it).
# corpus: assignment=paraboloid expect=fail cause=broadcast_shapes|gradients_not_zeroed|learning_rate_too_small
import torch
import torch.nn as nn
import numpy as np
from sklearn.model_selection import train_test_split

x = np.random.random(1000);
y = np.random.random(1000);
z = x**2 + y**2
input_data = torch.Tensor(np.transpose([x ,y]))
output_data = torch.Tensor(z)

input_training, input_validation, output_training, output_validation = train_test_split(input_data, output_data, random_state=42, test_size=0.15, shuffle=True)


class NonLinearRegression(torch.nn.Module):
  def __init__(self):
    super(NonLinearRegression, self).__init__()
    self.linear_1 = nn.Linear(in_features=2, out_features=10)
    self.act_1 = nn.ReLU()
    self.linear_2 = nn.Linear(in_features=10,out_features=5)
    self.act_2 = nn.ReLU()
    self.linear_3 = nn.Linear(in_features=5,out_features=1)

  def forward(self, y):
    y = self.linear_1(y)
    y = self.act_1(y)
    y = self.linear_2(y)
    y = self.act_2(y)
    y = self.linear_3(y)
    y_pred = y
    return y_pred


model_nonlinear = NonLinearRegression()
optimizer = torch.optim.SGD(model_nonlinear.parameters(), lr=1e-6)
criterion = nn.MSELoss(reduction='sum')

epoch_max = 3000
for epoch in range(epoch_max):
    total_loss = 0;
    model_nonlinear.train()
    y_pred = model_nonlinear(input_training)
    loss = criterion(y_pred, output_training)
    loss.backward()
    total_loss += float(loss)
    if (total_loss < 0.001):
        print("Num steps: " + str(epoch))
        break
    optimizer.step()
