"""bardbot trainer: data, word vectors, the Keras LSTMs, `python -m bardbot.trainer`."""
