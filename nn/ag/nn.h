/* ag/nn.h — everything in nn: modules and containers, layers,
 * activations, norms, the registry, init, the fused norm ops, the
 * transformer blocks, gradient checks of a module's parameters and
 * checkpoints. */
#ifndef AG_NN_H
#define AG_NN_H

#include "ag/module.h"
#include "ag/init.h"
#include "ag/layers.h"
#include "ag/activation.h"
#include "ag/norm_ops.h"
#include "ag/norms.h"
#include "ag/registry.h"
#include "ag/blocks.h"
#include "ag/check.h"
#include "ag/checkpoint.h"

#endif
