# Modelled on: https://github.com/poridhioss/Introduction-to-Deep-Learning-with-Pytorch-Resources
#   (Classification/lab_01.ipynb: make_circles, Linear(2, 5) -> Linear(5, 1) with no activation,
#   BCEWithLogitsLoss, SGD lr 0.1, 100 epochs, accuracy printed every 10 epochs: about 50%)
# Source: the notebook's CircleModelV0 with two stacked Linear layers; it "can only draw straight lines".
# What differs: the assignment's three rings, so Linear(2, 5) -> Linear(5, 3) and CrossEntropyLoss; 400 epochs.
# Mistake the notebook names: no nonlinearity, so the model is linear and circles are not.
# corpus: assignment=concentric-circles expect=fail cause=linear_model
import torch
from torch import nn
from gradekit import load_training_data

X_train, y_train = load_training_data()


class CircleModelV0(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer_1 = nn.Linear(in_features=2, out_features=5)
        self.layer_2 = nn.Linear(in_features=5, out_features=3)

    def forward(self, x):
        return self.layer_2(self.layer_1(x))


model_0 = CircleModelV0()
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(params=model_0.parameters(), lr=0.1)
for epoch in range(400):
    model_0.train()
    y_logits = model_0(X_train)
    loss = loss_fn(y_logits, y_train)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if epoch % 100 == 0:
        acc = (y_logits.argmax(dim=1) == y_train).float().mean() * 100
        print(f"Epoch: {epoch} | Loss: {loss:.5f}, Accuracy: {acc:.2f}%")
