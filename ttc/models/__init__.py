"""Language models: the ladder's Llama (lm), its fast decoder (lean_llama) and sampler (sampling),
pretraining and fine-tuning (pretrain, finetune), a model's accuracy (evaluate), and a real hub model
(hub_models). Above world.
"""
