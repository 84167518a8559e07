"""bardbot trainer: data, word vectors, the two reference Keras LSTMs, `python -m trainer`."""
