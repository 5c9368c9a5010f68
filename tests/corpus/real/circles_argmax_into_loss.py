# Modelled on: https://php.bkmy88.com/faq/1835025.html ("PyTorch训练中no grad错误的诊断与修复": a loop in the
#   zero-to-mastery style that feeds softmax(...).argmax(dim=1) to the loss and gets "element 0 of tensors
#   does not require grad and does not have a grad_fn")
# Source: for epoch in range(Epochs): model.train(); train_logits = model(X_train); predictions by argmax
#   of the softmax, as float; loss = loss_fn(train_preds, y_train); an accuracy() helper; zero_grad;
#   backward; step; full batch.
# What differs: the three rings; nn.MSELoss on the predicted class (the article's loss on class numbers).
# Mistake the article names: argmax cuts the graph; give the loss the raw logits.
# corpus: assignment=concentric-circles expect=verdict:runtime_error cause=loss_not_connected
import torch
from torch import nn
from gradekit import load_training_data

X_train, y_train = load_training_data()
torch.manual_seed(42)


class RingModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x):
        return self.layers(x)


def accuracy(y_true, y_pred):
    return (y_true == y_pred).sum().item() / len(y_pred) * 100


model = RingModel()
loss_fn = nn.MSELoss()
optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
Epochs = 100
for epoch in range(Epochs):
    model.train()
    train_logits = model(X_train)
    train_preds = torch.softmax(train_logits, dim=1).argmax(dim=1).type(torch.float32)
    loss = loss_fn(train_preds, y_train.type(torch.float32))
    acc = accuracy(y_train, train_preds)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    if epoch % 10 == 0:
        print(f"Epoch: {epoch} | Loss: {loss:.5f} | Acc: {acc:.2f}%")
