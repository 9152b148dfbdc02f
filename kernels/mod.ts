/** The GPU layer: runtime, tensors, autograd, ops. Knows nothing of GANs or pipelines. */
export {};
