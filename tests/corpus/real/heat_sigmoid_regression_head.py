# Modelled on: https://www.cnblogs.com/myh516/p/18945493 (a house-price model, HousePricePredictor, whose
#   Linear layer is followed by a Sigmoid, so every prediction is squashed into [0, 1]; the post says to
#   remove the Sigmoid and use MSELoss for a regression)
# Source: class HousePricePredictor(nn.Module) with a hidden layer and torch.sigmoid on the output, MSELoss,
#   Adam, epochs printed every 100.
# What differs: the heat-transfer correlation's Nusselt number (about 30 to 5,000) from log inputs.
# Mistake the post names: a sigmoid output cannot reach a regression's targets.
# corpus: assignment=heat-transfer expect=fail cause=output_range
import numpy as np
import torch
import torch.nn as nn

Re = 10 ** np.random.uniform(4, 6, 1000)
Pr = 10 ** np.random.uniform(np.log10(0.7), np.log10(160), 1000)
X = torch.tensor(np.column_stack([Re, Pr]), dtype=torch.float32)
Y = torch.tensor(0.023 * Re**0.8 * Pr**0.4, dtype=torch.float32).unsqueeze(1)


class HousePricePredictor(nn.Module):
    def __init__(self, input_dim):
        super().__init__()
        self.hidden = nn.Linear(input_dim, 16)
        self.out = nn.Linear(16, 1)

    def forward(self, x):
        x = torch.log(x)
        x = torch.relu(self.hidden(x))
        return torch.sigmoid(self.out(x))


model = HousePricePredictor(2)
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for epoch in range(300):
    optimizer.zero_grad()
    loss = criterion(model(X), Y)
    loss.backward()
    optimizer.step()
    if epoch % 100 == 0:
        print(f"epoch {epoch}, loss {loss.item():.1f}")
