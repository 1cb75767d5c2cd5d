// Umbrella header: everything a program needs to use Vectron embedded.
#pragma once

#include "vectron/collection.h"
#include "vectron/database.h"
#include "vectron/index.h"
#include "vectron/options.h"
#include "vectron/shard.h"
#include "vectron/status.h"
#include "vectron/types.h"
