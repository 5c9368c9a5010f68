# Modelled on: https://github.com/mrdbourke/pytorch-deep-learning/issues/399 ("loss remains the same")
# Source: the zero-to-mastery course's workflow notebook: weight/bias data from torch.arange, an 80/20 split
#   by slicing, LinearRegressionModel2 wrapping nn.Linear(1, 1), torch.manual_seed(42), a train/test loop with
#   torch.inference_mode, and the optimizer made from model_0.parameters() while model_1 is trained.
# What differs: the assignment's y = 2x + 1 on x in [0, 10]; fewer comments.
# Mistake (from the code and the issue's title): the optimizer holds the earlier model_0's parameters.
# corpus: assignment=linear expect=fail cause=optimizer_not_on_model
import torch
from torch import nn

weight, bias = 2.0, 1.0
X = torch.arange(0, 10, 0.02).unsqueeze(dim=1)
y = weight * X + bias
train_split = int(0.8 * len(X))
X_train, y_train = X[:train_split], y[:train_split]
X_test, y_test = X[train_split:], y[train_split:]


class LinearRegressionModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.weights = nn.Parameter(torch.randn(1, dtype=torch.float), requires_grad=True)
        self.bias = nn.Parameter(torch.randn(1, dtype=torch.float), requires_grad=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weights * x + self.bias


class LinearRegressionModel2(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear_layer = nn.Linear(in_features=1, out_features=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_layer(x)


torch.manual_seed(42)
model_0 = LinearRegressionModel()
model_1 = LinearRegressionModel2()

loss_fn = nn.L1Loss()
optimizer = torch.optim.SGD(params=model_0.parameters(), lr=0.01)

epochs = 300
for epoch in range(epochs):
    model_1.train()
    y_pred = model_1(X_train)
    loss = loss_fn(y_pred, y_train)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    model_1.eval()
    with torch.inference_mode():
        test_loss = loss_fn(model_1(X_test), y_test)
    if epoch % 100 == 0:
        print(f"Epoch: {epoch} | Loss: {loss} | Test loss: {test_loss}")

from gradekit import submit

submit(model_1)
