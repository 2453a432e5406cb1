/* ag/ag.h — the umbrella header: everything public in ag. */
#ifndef AG_AG_H
#define AG_AG_H

#define AG_VERSION_MAJOR 0
#define AG_VERSION_MINOR 1
#define AG_VERSION_PATCH 0

#include "arena.h"
#include "error.h"
#include "tensor.h"
#include "engine.h"
#include "grad.h"
#include "ops.h"
#include "loss.h"
#include "gradcheck.h"
#include "hvp.h"
#include "custom_op.h"
#include "gradcheck_suite.h"
#include "safetensors.h"
#include "plot.h"
#include "profile.h"

/* nn: modules, layers, norms, the norm-layer registry, blocks */
#include <ag/nn.h>

/* optim: SGD, Adam, AdamW, parameter groups, clipping, schedules */
#include <ag/optim.h>
#include <ag/train_state.h>

#endif
