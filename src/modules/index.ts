// The module registry: every module viaduct has, under its Kamailio name. KSR, the script types
// (src/ksr/types.ts), app_jsdt.api_list, the start-up check of a script's KSR calls, module
// parameters, RPC methods and core hooks are all built from this list; nothing else lists
// modules. The key is the module's name ('' holds the core functions: KSR.forward ...).
import { coreKemi, xKemi } from '../core/kemi.js';
import corex from './corex/index.js';
import dispatcher from './dispatcher/index.js';
import maxfwd from './maxfwd/index.js';
import pv from './pv/index.js';
import rr from './rr/index.js';
import sanity from './sanity/index.js';
import siputils from './siputils/index.js';
import sl from './sl/index.js';
import tm from './tm/index.js';
import tmx from './tmx/index.js';
import textops, { hdrModule as hdr } from './textops/index.js';
import xlog from './xlog/index.js';

export const MODULES = {
  '': coreKemi,
  x: xKemi,
  tm,
  tmx,
  corex,
  sl,
  maxfwd,
  rr,
  pv,
  hdr,
  textops,
  siputils,
  xlog,
  dispatcher,
  sanity,
} as const;
