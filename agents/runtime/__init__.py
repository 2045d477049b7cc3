"""The model runtime: BLAS set-up, the shipped model's store, the MLX engine and the generation backends."""
