# Modelled on: https://ai.stackexchange.com/questions/20894 (XOR with no hidden layers: every prediction
#   stays near 0.5)
# Source: a single nn.Linear(2, 1) with a sigmoid, trained with BCE on the XOR truth table with SGD.
# What differs: the assignment's four corners, and the logits kept as the output (BCEWithLogitsLoss),
#   so that only the missing hidden layer is wrong.
# Mistake the accepted answer names: no single wx + b separates XOR; a hidden layer is needed.
# corpus: assignment=xor expect=fail cause=linear_model
import torch
import torch.nn as nn
from gradekit import load_training_data

X, Y = load_training_data()
Y = Y.unsqueeze(1)

model = nn.Linear(2, 1)
criterion = nn.BCEWithLogitsLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
for epoch in range(2000):
    optimizer.zero_grad()
    loss = criterion(model(X), Y)
    loss.backward()
    optimizer.step()
print(torch.sigmoid(model(X[:8])).detach().squeeze())
