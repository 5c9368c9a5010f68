# Identical to a working solution except that optimizer.zero_grad() is missing:
# each backward() adds to the gradients of every earlier step.
import torch
import torch.nn as nn
import numpy as np
from sklearn.model_selection import train_test_split

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
    loss.backward()
    total_loss += float(loss)
    if (total_loss < 0.001):
        print("Num steps: " + str(epoch))
        break
    optimizer.step()
