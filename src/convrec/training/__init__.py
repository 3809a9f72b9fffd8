"""Fine-tuning LoRA adapters: the multi-task loop, its config, validation and checkpoints."""
