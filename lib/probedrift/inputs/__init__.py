"""What the study reads: datasets and their registry, models (embedded GGUF, hub ids, local
directories), the one path to embeddings, the instruction corpus and fine-tuned checkpoints."""
