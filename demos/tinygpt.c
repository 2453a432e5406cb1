/* demos/tinygpt.c — a character-level GPT that learns to spell English words,
 * checking its own gradients by finite differences while it trains.
 *
 *   tinygpt [--steps N] [--layers L] [--embd C] [--heads H] ... (--help)
 *
 * In the spirit of Karpathy's microgpt: token and position embeddings, a stack
 * of pre-norm blocks (RMSNorm -> causal multi-head attention -> residual;
 * RMSNorm -> MLP -> residual), a final RMSNorm and an LM head, trained with
 * AdamW (no weight decay for the norm layers the registry knows, nor for
 * biases), a warmup + cosine learning-rate schedule and gradient clipping.
 *
 * Data: one word per sequence, framed by the token '.' (id 0) at both ends:
 *   input   . c a t . . .      (padded with '.' to the batch's length)
 *   target  c a t . - - -      (- is ignore_index: no loss after the end)
 * By default the lowercase a-z words of /usr/share/dict/words (Debian package
 * wamerican); --data FILE takes any one-item-per-line file. A fixed-seed
 * 90/10 split gives the validation words.
 *
 * Every K steps the current batch is run again by an f64 copy of the model and
 * the analytic gradient is compared with central finite differences at a
 * random sample of coordinates of every parameter tensor.
 *
 * Memory: the parameters, their gradients and the optimizer state live in one
 * arena; each step's batch, activations and graph in a step arena reset at the
 * top of the loop; the f64 copy in arenas of its own.
 */
#include <ag/ag.h>

#include "common/demo.h"
#include "common/tinygpt_model.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#ifndef DICT_PATH
#define DICT_PATH "/usr/share/dict/words"
#endif
#define EOT 0          /* the '.' token: start and end of a word */
#define IGNORE AG_DEMO_GPT_IGNORE /* ignore_index for positions past a word's end */
#define SPLIT_SEED 20240611u /* the train/validation split does not follow --seed */
#define MAX_GC 4096    /* gradient checks remembered for the plot */
#define BUILTIN_STEPS 300 /* default --steps on the built-in corpus */
#define BUILTIN_STEPS_STR "300"

/* ---- options -------------------------------------------------------------------- */

typedef struct {
    int n_layer, n_embd, n_head, block_size, batch, steps, warmup;
    double lr, min_lr_frac, weight_decay, clip, temperature;
    unsigned long long seed;
    int threads, eval_every, gc_every, gc_samples, n_samples, eval_words;
    const char *data, *out, *norm, *act;
    bool steps_given;
} options;

static void usage(FILE *f) {
    fprintf(f,
        "usage: tinygpt [options]\n"
        "A character-level GPT trained on a word list, with gradient checks in f64.\n"
        "\n"
        "model\n"
        "  --layers N            transformer blocks (2)\n"
        "  --embd N              embedding width (48)\n"
        "  --heads N             attention heads, dividing --embd (4)\n"
        "  --block N             block size, 2..1024: longest word + 1 (16)\n"
        "  --norm KIND           llama, rmsnorm, sqrt, deepseek, t5, gemma, weightless,\n"
        "                        scale or layernorm (llama)\n"
        "  --act NAME            MLP activation: gelu, gelu_tanh, silu or relu (gelu;\n"
        "                        relu's kink makes finite differences, and so the\n"
        "                        gradient checks, fail now and then)\n"
        "training\n"
        "  --data FILE           one item per line (default " DICT_PATH ",\n"
        "                        lowercase a-z words)\n"
        "  --batch N             words per step (32)\n"
        "  --steps N             optimizer steps (3000; 300 on the built-in corpus)\n"
        "  --lr X                peak learning rate (1e-2)\n"
        "  --weight-decay X      AdamW weight decay of the decay group (0.01)\n"
        "  --warmup N            linear warmup steps, then cosine to lr/10\n"
        "                        (min(100, steps/10))\n"
        "  --seed N              initialization and batches (42)\n"
        "  --threads N           OpenMP and OpenBLAS threads (1: this model's tensors\n"
        "                        are too small for a second thread to pay off)\n"
        "checks and output\n"
        "  --eval-every N        train/validation loss every N steps (steps/10)\n"
        "  --eval-words N        words of each set those evaluations use (1000; the\n"
        "                        final validation loss uses all of them)\n"
        "  --gradcheck-every K   gradient check every K steps, 0: never (steps/5)\n"
        "  --gradcheck-samples N coordinates checked per parameter tensor, 1..64 (4)\n"
        "  --samples N           words sampled at the end (20)\n"
        "  --temperature X       sampling temperature (0.8)\n"
        "  --out DIR             where loss.dat/.gp/.png and gradcheck.* go (out/tinygpt)\n"
        "  --help                this text\n");
}

static bool parse_int(const char *s, int *out, int lo) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > 1000000000) return false;
    *out = (int)v;
    return true;
}

/* Returns 0 to go on, or an exit status (0 after --help). */
static int parse_options(int argc, char **argv, options *o) {
    *o = (options){.n_layer = 2, .n_embd = 48, .n_head = 4, .block_size = 16, .batch = 32,
                   .steps = 3000, .warmup = -1, .lr = 1e-2, .min_lr_frac = 0.1,
                   .weight_decay = 0.01, .clip = 1.0, .temperature = 0.8, .seed = 42,
                   .threads = 1, .eval_every = -1, .gc_every = -1, .gc_samples = 4,
                   .n_samples = 20, .eval_words = 1000, .out = "out/tinygpt",
                   .norm = "llama", .act = "gelu"};
    enum { O_LAYERS = 256, O_EMBD, O_HEADS, O_BLOCK, O_NORM, O_DATA, O_BATCH, O_STEPS, O_LR,
           O_WD, O_WARMUP, O_SEED, O_THREADS, O_EVAL, O_GC, O_GCS, O_SAMPLES, O_TEMP, O_OUT,
           O_HELP, O_ACT, O_EVAL_WORDS };
    static const struct option opts[] = {
        {"layers", required_argument, 0, O_LAYERS},
        {"embd", required_argument, 0, O_EMBD},
        {"heads", required_argument, 0, O_HEADS},
        {"block", required_argument, 0, O_BLOCK},
        {"norm", required_argument, 0, O_NORM},
        {"act", required_argument, 0, O_ACT},
        {"data", required_argument, 0, O_DATA},
        {"batch", required_argument, 0, O_BATCH},
        {"steps", required_argument, 0, O_STEPS},
        {"lr", required_argument, 0, O_LR},
        {"weight-decay", required_argument, 0, O_WD},
        {"warmup", required_argument, 0, O_WARMUP},
        {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS},
        {"eval-every", required_argument, 0, O_EVAL},
        {"eval-words", required_argument, 0, O_EVAL_WORDS},
        {"gradcheck-every", required_argument, 0, O_GC},
        {"gradcheck-samples", required_argument, 0, O_GCS},
        {"samples", required_argument, 0, O_SAMPLES},
        {"temperature", required_argument, 0, O_TEMP},
        {"out", required_argument, 0, O_OUT},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    for (int c; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
        bool ok = true;
        switch (c) {
        case O_LAYERS: ok = parse_int(optarg, &o->n_layer, 1); break;
        case O_EMBD: ok = parse_int(optarg, &o->n_embd, 1); break;
        case O_HEADS: ok = parse_int(optarg, &o->n_head, 1); break;
        case O_BLOCK: ok = parse_int(optarg, &o->block_size, 2) && o->block_size <= 1024; break;
        case O_NORM: o->norm = optarg; break;
        case O_ACT: o->act = optarg; break;
        case O_DATA: o->data = optarg; break;
        case O_BATCH: ok = parse_int(optarg, &o->batch, 1); break;
        case O_STEPS:
            ok = parse_int(optarg, &o->steps, 1);
            o->steps_given = true;
            break;
        case O_LR: ok = ag_demo_parse_double(optarg, &o->lr) && o->lr > 0; break;
        case O_WD: ok = ag_demo_parse_double(optarg, &o->weight_decay) && o->weight_decay >= 0; break;
        case O_WARMUP: ok = parse_int(optarg, &o->warmup, 0); break;
        case O_SEED: {
            char *end;
            errno = 0;
            o->seed = strtoull(optarg, &end, 10);
            ok = !errno && end != optarg && !*end;
        } break;
        case O_THREADS: ok = parse_int(optarg, &o->threads, 1); break;
        case O_EVAL: ok = parse_int(optarg, &o->eval_every, 1); break;
        case O_EVAL_WORDS: ok = parse_int(optarg, &o->eval_words, 1); break;
        case O_GC: ok = parse_int(optarg, &o->gc_every, 0); break;
        case O_GCS: ok = parse_int(optarg, &o->gc_samples, 1) && o->gc_samples <= 64; break;
        case O_SAMPLES: ok = parse_int(optarg, &o->n_samples, 0); break;
        case O_TEMP: ok = ag_demo_parse_double(optarg, &o->temperature) && o->temperature > 0; break;
        case O_OUT: o->out = optarg; break;
        case 'h':
        case O_HELP: usage(stdout); return -1;
        default: fprintf(stderr, "Try 'tinygpt --help'.\n"); return 2;
        }
        if (!ok) {
            const struct option *op = opts;
            while (op->name && op->val != c) op++;
            fprintf(stderr, "tinygpt: bad value '%s' for --%s\n", optarg, op->name);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tinygpt: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (o->n_embd % o->n_head) {
        fprintf(stderr, "tinygpt: --embd %d is not divisible by --heads %d\n", o->n_embd,
                o->n_head);
        return 2;
    }
    return 0;
}

/* The defaults that follow --steps (known once the data is loaded: the
 * built-in corpus takes fewer steps). Returns false on a bad combination. */
static bool derive_defaults(options *o) {
    if (o->warmup < 0) o->warmup = o->steps / 10 < 100 ? o->steps / 10 : 100;
    if (o->warmup > o->steps) {
        fprintf(stderr, "tinygpt: --warmup %d is longer than --steps %d\n", o->warmup, o->steps);
        return false;
    }
    if (o->eval_every < 0) o->eval_every = o->steps >= 10 ? o->steps / 10 : 1;
    if (o->gc_every < 0) o->gc_every = o->steps >= 5 ? o->steps / 5 : 1;
    return true;
}

/* ---- small utilities ----------------------------------------------------------- */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "tinygpt: out of memory\n");
        exit(1);
    }
    return p;
}

/* "1:05" */
static const char *fmt_time(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 1e7) s = 0;
    long t = lround(s);
    snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

/* ---- data ----------------------------------------------------------------------- */

/* A few hundred common words, for machines without the system word list. */
static const char *const BUILTIN_WORDS[] = {
    "about above across act add after again against age ago agree air all allow almost",
    "alone along already also always among amount and animal another answer any appear",
    "apple area arm army around arrive art ask baby back bad ball bank base bear beat",
    "beauty become bed before began begin behind believe bell best better between big bird",
    "black block blood blow blue board boat body bone book born both bottom box boy branch",
    "bread break bright bring broad brother brown build burn busy call came camp can",
    "capital captain car card care carry case cat catch cause cell center certain chair",
    "chance change character charge chart check chief child choose church circle city",
    "claim class clean clear climb clock close cloth cloud coast cold color column come",
    "common company compare complete condition connect consider contain continue control",
    "cook cool copy corn corner correct cost cotton could count country course cover cow",
    "create crop cross crowd cry current cut dance danger dark day dead deal dear death",
    "decide deep degree depend describe desert design determine develop dictionary differ",
    "direct discuss distant divide doctor does dog dollar done door double down draw dream",
    "dress drink drive drop dry during each early earth ease east eat edge effect egg",
    "eight either electric element else end enemy energy engine enough enter equal even",
    "evening event ever every exact example except excite exercise expect experience",
    "experiment eye face fact fair fall family famous far farm fast father favor fear feed",
    "feel feet fell few field fig fight figure fill final find fine finger finish fire",
    "first fish fit five flat floor flow flower fly follow food foot force forest form",
    "forward found four free fresh friend from front fruit full game garden gas gather",
    "gentle girl give glad glass gold good got govern grand grass gray great green ground",
    "group grow guess guide gun hair half hand happen happy hard hat have head hear heard",
    "heart heat heavy help here high hill history hold hole home hope horse hot hour house",
    "huge human hundred hunt hurry idea imagine inch include indicate industry insect",
    "instant instrument interest invent iron island join joy jump keep kept kill kind king",
    "kitchen knew know lady lake land language large last late laugh law lay lead learn",
    "least leave left length less letter level life lift light like line liquid list",
    "listen little live locate long look lost loud love machine made magnet main major",
    "make many map mark market mass master match matter meant measure meat meet melody",
    "metal method middle might mile milk million mind mine minute miss modern molecule",
    "moment money month moon morning mother motion mount mountain mouth move music must",
    "name nation nature near necessary neck need neighbor never night nine noise noon",
    "north nose note nothing notice noun number object observe ocean offer office often",
    "once only open operate order organ original other oxygen page paint pair paper",
    "paragraph parent part party pass past path pattern people perhaps period person",
    "picture piece place plain plan plane planet plant play please plural poem point",
    "poor populate port position possible pound power practice prepare present press",
    "pretty print probable problem process produce product proper property protect prove",
    "provide pull push quart question quick quiet quite quotient race radio rail rain",
    "raise range rather reach read ready real reason receive record region remember",
    "repeat reply represent require rest result rich ride right ring rise river road rock",
    "roll room root rope rose round row rub rule safe sail salt same sand save scale",
    "school science score search season seat second section seed seem segment select",
    "self sell send sense sentence separate serve settle seven several shape share sharp",
    "sheet shell shine ship shoe shop shore short should shoulder shout show side sight",
    "sign silent silver similar simple since sing single sister sit six size skill skin",
    "sleep slip slow small smell smile snow soft soil soldier solution solve some son song",
    "soon sound south space speak special speech speed spell spend spoke spot spread",
    "spring square stand star start state station stay steam steel step stick still stone",
    "stood stop store story straight strange stream street stretch string strong student",
    "study subject substance subtract success such sudden suffix sugar suggest suit summer",
    "supply support sure surface surprise swim syllable symbol system table tail take talk",
    "teach team teeth tell temperature test than thank then thick thin thing third those",
    "though thought thousand three through throw tie time tiny tire together told tone",
    "took tool total touch toward town track trade train travel tree triangle trip",
    "trouble truck true try tube turn twenty type under unit until usual valley value",
    "vary verb very view village visit voice vowel wait walk wall want warm wash watch",
    "water wave wear weather week weight well west wheel where whether which while white",
    "whole wide wife wild will wind window wing winter wire wish woman wonder wood word",
    "work world would write wrong yard year yellow young",
};

typedef struct {
    char **words;     /* every kept item, then shuffled: train first, then validation */
    int n, ntrain, nval;
    int vocab;        /* 1 + distinct characters */
    int id_of[256];   /* character -> token id (0 unused) */
    unsigned char ch_of[256]; /* token id -> character ('.' for EOT) */
    long dropped_long, dropped_other;
    bool builtin;
} dataset;

static bool dict_word(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (*s < 'a' || *s > 'z') return false;
    return true;
}

static void add_item(dataset *d, int *cap, const char *s, size_t len, int maxlen) {
    if (len == 0) return;
    if ((int)len > maxlen) {
        d->dropped_long++;
        return;
    }
    if (d->n == *cap) {
        *cap = *cap ? 2 * *cap : 1024;
        char **w = realloc(d->words, (size_t)*cap * sizeof *w);
        if (!w) {
            fprintf(stderr, "tinygpt: out of memory\n");
            exit(1);
        }
        d->words = w;
    }
    char *c = xmalloc(len + 1);
    memcpy(c, s, len);
    c[len] = '\0';
    d->words[d->n++] = c;
}

/* Reads the items (at most maxlen characters each), builds the vocabulary and
 * splits 90/10 with a fixed seed. Returns false with a message on failure. */
static bool load_data(dataset *d, const char *path, int maxlen) {
    memset(d, 0, sizeof *d);
    int cap = 0;
    const bool dict = path == NULL;
    FILE *f = fopen(dict ? DICT_PATH : path, "r");
    if (!f && !dict) {
        fprintf(stderr, "tinygpt: cannot open %s: %s\n", path, strerror(errno));
        return false;
    }
    if (f) {
        char *line = NULL;
        size_t lcap = 0;
        ssize_t len;
        while ((len = getline(&line, &lcap, f)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
            if (len == 0) continue;
            if (dict && !dict_word(line)) {
                d->dropped_other++;
                continue;
            }
            add_item(d, &cap, line, (size_t)len, maxlen);
        }
        free(line);
        fclose(f);
    } else {
        d->builtin = true;
        for (size_t i = 0; i < sizeof BUILTIN_WORDS / sizeof BUILTIN_WORDS[0]; i++)
            for (const char *p = BUILTIN_WORDS[i]; *p;) {
                size_t n = strcspn(p, " ");
                add_item(d, &cap, p, n, maxlen);
                p += n;
                p += strspn(p, " ");
            }
    }
    if (d->n < 2) {
        fprintf(stderr, "tinygpt: %s has %d usable item(s) of at most %d characters; need 2\n",
                dict ? DICT_PATH : path, d->n, maxlen);
        return false;
    }
    /* vocabulary: EOT, then the characters present in byte order */
    bool seen[256] = {false};
    for (int i = 0; i < d->n; i++)
        for (const unsigned char *s = (const unsigned char *)d->words[i]; *s; s++) seen[*s] = true;
    d->vocab = 1;
    d->ch_of[EOT] = '.';
    for (int c = 1; c < 256; c++)
        if (seen[c]) {
            d->ch_of[d->vocab] = (unsigned char)c;
            d->id_of[c] = d->vocab++;
        }
    /* fixed-seed shuffle (Fisher-Yates), then 90/10 */
    ag_rng r;
    ag_rng_seed(&r, SPLIT_SEED);
    for (int i = d->n - 1; i > 0; i--) {
        int j = (int)ag_rng_below(&r, (uint64_t)i + 1);
        char *t = d->words[i];
        d->words[i] = d->words[j];
        d->words[j] = t;
    }
    d->nval = d->n / 10 > 0 ? d->n / 10 : 1;
    d->ntrain = d->n - d->nval;
    return true;
}

/* The entropy (nats per token) of the training targets' character unigram
 * distribution (every character and the end token): the loss of a model that
 * ignores context, the baseline to beat. */
static double unigram_entropy(const dataset *d) {
    double counts[256] = {0}, total = 0;
    for (int i = 0; i < d->ntrain; i++) {
        for (const unsigned char *s = (const unsigned char *)d->words[i]; *s; s++)
            counts[d->id_of[*s]]++;
        counts[EOT]++;
        total += (double)strlen(d->words[i]) + 1;
    }
    double h = 0;
    for (int v = 0; v < d->vocab; v++)
        if (counts[v] > 0) h -= counts[v] / total * log(counts[v] / total);
    return h;
}

/* A set of strings (open addressing, FNV-1a), for "is this sample a training word?". */
typedef struct {
    const char **slot;
    size_t cap;
} strset;

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void strset_init(strset *s, char *const *items, int n) {
    s->cap = 16;
    while (s->cap < 2 * (size_t)n) s->cap *= 2;
    s->slot = calloc(s->cap, sizeof *s->slot);
    if (!s->slot) {
        fprintf(stderr, "tinygpt: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        size_t h = fnv1a(items[i]) & (s->cap - 1);
        while (s->slot[h] && strcmp(s->slot[h], items[i])) h = (h + 1) & (s->cap - 1);
        s->slot[h] = items[i];
    }
}

static bool strset_has(const strset *s, const char *w) {
    size_t h = fnv1a(w) & (s->cap - 1);
    for (; s->slot[h]; h = (h + 1) & (s->cap - 1))
        if (!strcmp(s->slot[h], w)) return true;
    return false;
}

/* A batch of n words: ids [n, T] (i32) and targets [n*T] (i32), T the
 * longest word + 1. */
static void make_batch(ag_arena *A, const dataset *d, char *const *words, int n,
                       ag_tensor **ids, ag_tensor **targets) {
    int T = 0;
    for (int b = 0; b < n; b++) {
        int l = (int)strlen(words[b]) + 1;
        if (l > T) T = l;
    }
    *ids = ag_empty(A, AG_I32, AG_SHAPE(n, T));
    *targets = ag_empty(A, AG_I32, AG_SHAPE((int64_t)n * T));
    int32_t *x = (*ids)->data, *y = (*targets)->data;
    for (int b = 0; b < n; b++) {
        const unsigned char *w = (const unsigned char *)words[b];
        int len = (int)strlen(words[b]);
        int32_t *xb = x + (size_t)b * T, *yb = y + (size_t)b * T;
        xb[0] = EOT;
        for (int t = 1; t < T; t++) xb[t] = t <= len ? d->id_of[w[t - 1]] : EOT;
        for (int t = 0; t < T; t++) yb[t] = t < len ? d->id_of[w[t]] : t == len ? EOT : IGNORE;
    }
}

/* ---- evaluation and sampling (the model: demos/common/tinygpt_model.c) ------------- */

static int count_targets(const ag_tensor *targets) {
    int n = 0;
    const int32_t *y = targets->data;
    for (int64_t i = 0; i < targets->numel; i++) n += y[i] != IGNORE;
    return n;
}

/* Mean loss per target token over words[0..n-1], without gradients, in
 * batches of 256 in arena A (reset before each batch). */
static double evaluate(ag_arena *A, ag_demo_gpt *g, const dataset *d, char *const *words,
                       int n) {
    bool was = ag_set_grad_enabled(false);
    ag_module_train(&g->base, false);
    double sum = 0;
    long count = 0;
    for (int i = 0; i < n; i += 256) {
        int nb = n - i < 256 ? n - i : 256;
        ag_arena_reset(A);
        ag_tensor *ids, *targets;
        make_batch(A, d, words + i, nb, &ids, &targets);
        int k = count_targets(targets);
        sum += ag_item(ag_demo_gpt_loss(A, g, ids, targets)) * k;
        count += k;
    }
    ag_module_train(&g->base, true);
    ag_set_grad_enabled(was);
    return sum / (double)count;
}

/* One word sampled at temperature temp (without gradients), into out
 * (at most block_size - 1 characters). */
static void sample_word(ag_arena *A, ag_demo_gpt *g, const dataset *d, ag_rng *r, double temp,
                        char *out) {
    bool was = ag_set_grad_enabled(false);
    ag_module_train(&g->base, false);
    const int T = g->cfg.block_size, V = g->cfg.vocab;
    int32_t ctx[1024];
    int len = 0;
    ctx[0] = EOT;
    double *p = xmalloc((size_t)V * sizeof *p);
    while (len < T - 1) {
        ag_arena_reset(A);
        ag_tensor *ids = ag_from_array(A, AG_I32, AG_SHAPE(1, len + 1), ctx);
        ag_tensor *logits = ag_demo_gpt_forward(A, g, ids); /* [1, len+1, V] */
        const float *last = (const float *)logits->data + (size_t)len * V;
        double mx = -INFINITY, z = 0;
        for (int v = 0; v < V; v++) mx = fmax(mx, last[v] / temp);
        for (int v = 0; v < V; v++) z += p[v] = exp(last[v] / temp - mx);
        double u = ag_rng_uniform(r) * z;
        int next = V - 1;
        for (int v = 0; v < V; v++)
            if ((u -= p[v]) < 0) {
                next = v;
                break;
            }
        if (next == EOT) break;
        out[len++] = (char)d->ch_of[next];
        ctx[len] = next;
    }
    out[len] = '\0';
    free(p);
    ag_module_train(&g->base, true);
    ag_set_grad_enabled(was);
}

/* ---- gradient check in f64 --------------------------------------------------------- */

/* The numeric derivative is the fourth-order central difference
 *   n = (8 (L(w+h) - L(w-h)) - (L(w+2h) - L(w-2h))) / (12 h),   h = GC_H,
 * whose error is O(h^4) instead of the O(h^2) of the two-point rule, so h
 * can be large enough (1e-3) that rounding in the loss hardly matters: the
 * relative errors of correct gradients come out near 1e-9..1e-6 instead of
 * 1e-7..1e-3 with PyTorch's two-point rule and h = 1e-6 (measured on this
 * model). A coordinate passes iff |a - n| <= GC_ATOL + GC_RTOL |n|: ten times
 * tighter than PyTorch's rtol, a thousand times tighter than its atol. The
 * model must be smooth for this: GELU or SiLU, not ReLU (a kink inside
 * [w-2h, w+2h] makes the difference quotient wrong, not the gradient). */
#define GC_H 1e-3
#define GC_ATOL 1e-8
#define GC_RTOL 1e-4

typedef struct {
    ag_demo_gpt *m64;          /* the f64 copy */
    ag_arena *P64, *A64;       /* its parameters; its activations */
    ag_named_param *p32, *p64; /* parameters of the f32 model and of the copy */
    int nparams;
    ag_rng rng;                /* which coordinates */
    int samples;
    FILE *log;                 /* every check's per-tensor table */
    /* history, for the plot */
    int n, passed, failed;
    int step[MAX_GC];
    double worst_rel[MAX_GC];
    double worst_tol[MAX_GC];  /* |a - n| / (atol + rtol |n|): above 1 fails */
    double *tensor_rel;        /* [MAX_GC][nparams] */
} gradchecker;

static void gc_init(gradchecker *gc, ag_demo_gpt *model, const ag_demo_gpt_config *c,
                    uint64_t seed, int samples, FILE *log) {
    memset(gc, 0, sizeof *gc);
    gc->P64 = ag_arena_new(0);
    gc->A64 = ag_arena_new(0);
    gc->m64 = ag_demo_gpt_new(gc->P64, c, seed);
    ag_module_cast(&gc->m64->base, AG_F64);
    ag_module_train(&gc->m64->base, false); /* no dropout in a check */
    gc->nparams = ag_module_parameters(&model->base, gc->P64, &gc->p32);
    int n64 = ag_module_parameters(&gc->m64->base, gc->P64, &gc->p64);
    if (n64 != gc->nparams) {
        fprintf(stderr, "tinygpt: the f64 copy has %d parameters, the model %d\n", n64,
                gc->nparams);
        exit(1);
    }
    ag_rng_seed(&gc->rng, seed ^ 0x9e3779b97f4a7c15ull);
    gc->samples = samples;
    gc->log = log;
    gc->tensor_rel = xmalloc((size_t)MAX_GC * (size_t)gc->nparams * sizeof(double));
}

/* "[i,j]" for a 2-d tensor, "[i]" otherwise (flat position). */
static void coord_str(const ag_tensor *t, int64_t flat, char *buf, size_t n) {
    if (t->ndim == 2)
        snprintf(buf, n, "[%lld,%lld]", (long long)(flat / t->shape[1]),
                 (long long)(flat % t->shape[1]));
    else
        snprintf(buf, n, "[%lld]", (long long)flat);
}

static double gc_loss(gradchecker *gc, ag_tensor *ids, ag_tensor *targets) {
    ag_arena_reset(gc->A64);
    return ag_item(ag_demo_gpt_loss(gc->A64, gc->m64, ids, targets));
}

/* Checks the gradient of the loss on (ids, targets) with respect to every
 * parameter of the current model at gc->samples random coordinates per tensor.
 * Returns true when every coordinate passes; on a failure, names the tensor
 * and the coordinate in why. */
static bool gc_run(gradchecker *gc, int step, ag_tensor *ids, ag_tensor *targets, bool verbose,
                   char *why, size_t whylen) {
    /* the copy takes the current values */
    for (int i = 0; i < gc->nparams; i++) {
        const ag_tensor *s = gc->p32[i].tensor;
        ag_tensor *t = gc->p64[i].tensor;
        if (s->numel != t->numel || strcmp(gc->p32[i].name, gc->p64[i].name)) {
            fprintf(stderr, "tinygpt: parameter %d differs between the copies (%s, %s)\n", i,
                    gc->p32[i].name, gc->p64[i].name);
            exit(1);
        }
        ag_to_f64(s, t->data);
    }
    /* analytic gradient */
    bool was = ag_set_grad_enabled(true);
    ag_module_zero_grad(&gc->m64->base);
    ag_arena_reset(gc->A64);
    ag_backward(ag_demo_gpt_loss(gc->A64, gc->m64, ids, targets), NULL);
    ag_set_grad_enabled(false);

    bool ok = true;
    double worst_rel_all = 0, worst_tol_all = 0;
    for (int i = 0; i < gc->nparams; i++) {
        ag_tensor *t = gc->p64[i].tensor;
        double *w = t->data;
        const double *g = t->grad ? t->grad->data : NULL;
        double worst_rel = 0, worst_tol = 0, wa = 0, wn = 0, fa = 0, fn = 0;
        int64_t worst_at = -1, fail_at = -1, picked[64];
        int npick = 0;
        const int want = gc->samples < t->numel ? gc->samples : (int)t->numel;
        while (npick < want && npick < 64) {
            int64_t idx = (int64_t)ag_rng_below(&gc->rng, (uint64_t)t->numel);
            bool dup = false;
            for (int j = 0; j < npick; j++) dup |= picked[j] == idx;
            if (dup) continue;
            picked[npick++] = idx;

            const double orig = w[idx];
            double l[4];
            const double at[4] = {orig + GC_H, orig - GC_H, orig + 2 * GC_H, orig - 2 * GC_H};
            for (int e = 0; e < 4; e++) {
                w[idx] = at[e];
                l[e] = gc_loss(gc, ids, targets);
            }
            w[idx] = orig;
            const double num = (8 * (l[0] - l[1]) - (l[2] - l[3])) / (12 * GC_H);
            const double ana = g ? g[idx] : 0.0;
            const double err = fabs(ana - num), scale = fmax(fabs(ana), fabs(num));
            /* relative error where the gradient is above the absolute tolerance
             * (below it, the comparison is absolute) */
            const double rel = scale > GC_ATOL ? err / scale : 0.0;
            const double tol = err / (GC_ATOL + GC_RTOL * fabs(num));
            if (worst_at < 0 || rel > worst_rel) {
                worst_rel = rel;
                worst_at = idx;
                wa = ana;
                wn = num;
            }
            if (tol > worst_tol) worst_tol = tol;
            if (tol > 1.0 && fail_at < 0) {
                fail_at = idx;
                fa = ana;
                fn = num;
            }
        }
        char coord[64], fcoord[64];
        coord_str(t, worst_at, coord, sizeof coord);
        coord_str(t, fail_at, fcoord, sizeof fcoord);
        const bool pass = fail_at < 0;
        if (gc->n < MAX_GC) gc->tensor_rel[(size_t)gc->n * gc->nparams + i] = worst_rel;
        if (worst_rel > worst_rel_all) worst_rel_all = worst_rel;
        if (worst_tol > worst_tol_all) worst_tol_all = worst_tol;
        char shape[32], line[512];
        snprintf(line, sizeof line,
                 "  %-42s %-9s worst rel err %8.2e at %-9s a=% .9e n=% .9e%s\n",
                 gc->p64[i].name, ag_shape_str(t, shape, sizeof shape), worst_rel, coord, wa, wn,
                 pass ? "" : "  FAILED");
        if (gc->log) fputs(line, gc->log);
        if (verbose || !pass) fputs(line, stdout);
        if (!pass && ok) { /* the first failure is the one reported */
            ok = false;
            snprintf(why, whylen,
                     "%s%s: analytic %.9e, numeric %.9e, |a-n| = %.3e > %g + %g*|n| "
                     "(relative error %.3e)",
                     gc->p64[i].name, fcoord, fa, fn, fabs(fa - fn), GC_ATOL, GC_RTOL,
                     fabs(fa - fn) / fmax(fmax(fabs(fa), fabs(fn)), 1e-300));
        }
    }
    if (gc->n < MAX_GC) {
        gc->step[gc->n] = step;
        gc->worst_rel[gc->n] = worst_rel_all;
        gc->worst_tol[gc->n] = worst_tol_all;
        gc->n++;
    }
    if (ok) gc->passed++;
    else gc->failed++;
    if (gc->log) {
        fprintf(gc->log, "step %d: %s, worst relative error %.3e, worst |a-n|/tol %.3e\n\n",
                step, ok ? "passed" : "FAILED", worst_rel_all, worst_tol_all);
        fflush(gc->log);
    }
    ag_set_grad_enabled(was);
    return ok;
}

/* ---- plots ---------------------------------------------------------------------------- */

typedef struct {
    int n, cap;
    int *step;
    float *loss, *lr;
} step_log;

typedef struct {
    int n;
    int step[1024];
    double train[1024], val[1024];
} eval_log;

static void write_plots(const char *dir, const step_log *sl, const eval_log *el,
                        const gradchecker *gc, double baseline, const char *title, int steps) {
    const int xmax = steps + (steps + 39) / 40; /* room for the last point */
    FILE *f = ag_demo_open("tinygpt", dir, "loss.dat");
    if (f) {
        fprintf(f, "# tinygpt: %s\n# index 0: step  batch_loss  lr\n", title);
        for (int i = 0; i < sl->n; i++)
            fprintf(f, "%d %.6f %.6e\n", sl->step[i], sl->loss[i], sl->lr[i]);
        fprintf(f, "\n\n# index 1: step  train_loss  val_loss (nats/token)\n");
        for (int i = 0; i < el->n; i++)
            fprintf(f, "%d %.6f %.6f\n", el->step[i], el->train[i], el->val[i]);
        fclose(f);
    }
    f = ag_demo_open("tinygpt", dir, "loss.gp");
    if (f) {
        fprintf(f,
                "# renders loss.png from loss.dat: gnuplot loss.gp (in this directory)\n"
                "set terminal pngcairo size 900,560 enhanced font 'sans,10'\n"
                "set output 'loss.png'\n"
                "set title \"tinygpt: %s\" noenhanced\n"
                "set xlabel 'step'\n"
                "set ylabel 'cross-entropy (nats/token)'\n"
                "set grid\n"
                "set key top right\n"
                "set xrange [0:%d]\n"
                "baseline = %.6f\n"
                "plot 'loss.dat' index 0 using 1:2 with lines lc rgb '#c8c8e8' title 'batch loss', \\\n"
                "     'loss.dat' index 1 using 1:2 with linespoints lw 2 pt 7 lc rgb '#1f4fbf' title 'train', \\\n"
                "     'loss.dat' index 1 using 1:3 with linespoints lw 2 pt 5 lc rgb '#d62728' title 'validation', \\\n"
                "     baseline with lines dt 2 lw 2 lc rgb '#555555' title sprintf('unigram baseline %%.3f', baseline)\n",
                title, xmax, baseline);
        fclose(f);
    }
    f = ag_demo_open("tinygpt", dir, "gradcheck.dat");
    if (f) {
        fprintf(f, "# check  step  worst_rel_err  worst_err_over_tol  then the worst relative "
                   "error of each tensor:\n#");
        for (int i = 0; i < gc->nparams; i++) fprintf(f, " %s", gc->p64[i].name);
        fprintf(f, "\n");
        for (int c = 0; c < gc->n; c++) {
            fprintf(f, "%d %d %.6e %.6e", c + 1, gc->step[c], gc->worst_rel[c], gc->worst_tol[c]);
            for (int i = 0; i < gc->nparams; i++)
                fprintf(f, " %.6e", gc->tensor_rel[(size_t)c * gc->nparams + i]);
            fprintf(f, "\n");
        }
        fclose(f);
    }
    f = ag_demo_open("tinygpt", dir, "gradcheck.gp");
    if (f) {
        fprintf(f,
                "# renders gradcheck.png from gradcheck.dat: gnuplot gradcheck.gp (in this directory)\n"
                "set terminal pngcairo size 900,560 enhanced font 'sans,10'\n"
                "set output 'gradcheck.png'\n"
                "set title \"tinygpt: f64 analytic gradient vs 4-point central differences "
                "(h = %g), %d coordinates of each of %d tensors per check\" noenhanced\n"
                "set xlabel 'training step'\n"
                "set ylabel 'relative error |a-n|/max(|a|,|n|)'\n"
                "set logscale y\n"
                "set format y '10^{%%L}'\n"
                "set yrange [1e-12:1]\n"
                "set grid\n"
                "set key top right\n"
                "set xrange [0:%d]\n"
                "rtol = %g\n"
                "plot for [i=5:%d] 'gradcheck.dat' using 2:(column(i) > 0 ? column(i) : 1/0) "
                "with points pt 1 ps 0.8 lc rgb '#a0a0a0' notitle, \\\n"
                "     NaN with points pt 1 lc rgb '#a0a0a0' title 'worst of one tensor', \\\n"
                "     'gradcheck.dat' using 2:3 with linespoints lw 2 pt 7 ps 1.2 lc rgb '#1f4fbf' "
                "title 'worst of the check', \\\n"
                "     rtol with lines dt 2 lw 2 lc rgb '#d62728' title sprintf('rtol %%g', rtol)\n",
                GC_H, gc->samples, gc->nparams, xmax, GC_RTOL, 4 + gc->nparams);
        fclose(f);
    }
}

/* Runs gnuplot on the two scripts; prints the command when it cannot. */
static void render_plots(const char *dir) {
    char cmd[4400], why[256];
    int status = ag_demo_gnuplot(dir, "loss.gp gradcheck.gp", cmd, sizeof cmd, why, sizeof why);
    if (status == 0)
        printf("plots: %s/loss.png, %s/gradcheck.png\n", dir, dir);
    else if (status == 127)
        printf("plots: gnuplot not found; to render them: %s\n", cmd);
    else
        printf("plots: gnuplot failed (%s); to render them: %s\n", why, cmd);
}

/* ---- main ----------------------------------------------------------------------------- */

/* The --norm names: LayerNorm or an RMSNorm kind, at its default eps. */
static bool norm_from_name(const char *s, ag_norm_choice *c) {
    static const struct {
        const char *name;
        ag_norm_choice choice;
    } norms[] = {
        {"layernorm", AG_NORM_LAYERNORM},
        {"rmsnorm", AG_NORM_RMS(AG_RMSNORM)},
        {"llama", AG_NORM_RMS(AG_RMSNORM_LLAMA)},
        {"sqrt", AG_NORM_RMS(AG_RMSNORM_SQRT)},
        {"deepseek", AG_NORM_RMS(AG_RMSNORM_DEEPSEEK)},
        {"t5", AG_NORM_RMS(AG_RMSNORM_T5)},
        {"gemma", AG_NORM_RMS(AG_RMSNORM_GEMMA)},
        {"weightless", AG_NORM_RMS(AG_RMSNORM_WEIGHTLESS)},
        {"scale", AG_NORM_RMS(AG_RMSNORM_SCALE)},
    };
    for (size_t i = 0; i < sizeof norms / sizeof norms[0]; i++)
        if (!strcmp(s, norms[i].name)) {
            *c = norms[i].choice;
            return true;
        }
    return false;
}

int main(int argc, char **argv) {
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    ag_demo_gpt_config cfg = {.block_size = o.block_size, .n_layer = o.n_layer,
                              .n_embd = o.n_embd, .n_head = o.n_head};
    if (!norm_from_name(o.norm, &cfg.norm)) {
        fprintf(stderr, "tinygpt: unknown --norm %s (see --help)\n", o.norm);
        return 2;
    }
    static const struct {
        const char *name;
        ag_activation act;
    } acts[] = {{"gelu", AG_ACT_GELU}, {"gelu_tanh", AG_ACT_GELU_TANH}, {"silu", AG_ACT_SILU},
                {"relu", AG_ACT_RELU}};
    int ai = 0;
    while (ai < 4 && strcmp(acts[ai].name, o.act)) ai++;
    if (ai == 4) {
        fprintf(stderr, "tinygpt: unknown --act %s (see --help)\n", o.act);
        return 2;
    }
    cfg.act = acts[ai].act;
    ag_demo_set_threads(o.threads);
    signal(SIGPIPE, SIG_IGN);
    const double t_start = now();
    const bool tty = isatty(STDOUT_FILENO);

    /* ---- data */
    dataset d;
    if (!load_data(&d, o.data, o.block_size - 1)) return 1;
    const char *src = o.data ? o.data : DICT_PATH;
    if (d.builtin) {
        if (!o.steps_given) o.steps = BUILTIN_STEPS; /* more would learn it by heart */
        printf("tinygpt: %s not found (Debian package wamerican); training on the built-in "
               "corpus of %d words instead%s\n", DICT_PATH, d.n,
               o.steps_given ? "" : ", for " BUILTIN_STEPS_STR " steps");
    }
    else if (!o.data)
        printf("tinygpt: %d words from %s (lowercase a-z, at most %d letters; left out %ld "
               "other lines and %ld longer words)\n", d.n, DICT_PATH, o.block_size - 1,
               d.dropped_other, d.dropped_long);
    else
        printf("tinygpt: %d items from %s (at most %d characters; left out %ld longer ones)\n",
               d.n, src, o.block_size - 1, d.dropped_long);
    if (!derive_defaults(&o)) return 2;
    cfg.vocab = d.vocab;
    printf("split (fixed seed): %d train, %d validation; vocabulary %d tokens: '.' (start/end) "
           "and \"", d.ntrain, d.nval, d.vocab);
    for (int v = 1; v < d.vocab; v++) putchar(isprint(d.ch_of[v]) ? d.ch_of[v] : '?');
    printf("\"\n");
    const double baseline = unigram_entropy(&d);
    printf("baseline: the character-unigram entropy of the training data is %.4f nats/token\n",
           baseline);
    char *const *train = d.words, *const *val = d.words + d.ntrain;
    const int n_eval_train = o.eval_words < d.ntrain ? o.eval_words : d.ntrain;
    const int n_eval_val = o.eval_words < d.nval ? o.eval_words : d.nval;

    /* ---- model and optimizer */
    ag_arena *P = ag_arena_new(0), *S = ag_arena_new(0), *E = ag_arena_new(0);
    ag_demo_gpt *model = ag_demo_gpt_new(P, &cfg, o.seed);
    printf("\n");
    ag_module_print(stdout, &model->base);
    ag_optim_group *groups = ag_optim_groups_from_model(&model->base, P, AG_OPTIM_INHERIT,
                                                        o.weight_decay);
    ag_adam_opts ao = ag_adamw_defaults();
    ao.lr = o.lr;
    ao.weight_decay = o.weight_decay;
    ag_optim *opt = ag_adamw_new(P, groups, 2, &ao);
    if (!opt) return 1;
    int64_t ndecay = 0, nno = 0;
    for (int i = 0; i < groups[0].nparams; i++) ndecay += groups[0].params[i]->numel;
    for (int i = 0; i < groups[1].nparams; i++) nno += groups[1].params[i]->numel;
    const ag_schedule sched = ag_schedule_warmup_cosine(o.warmup, o.steps, o.min_lr_frac);
    printf("\nAdamW lr %g (warmup %d steps, cosine to %g), betas (%g, %g), weight decay %g on "
           "%d tensors (%lld values), none on %d norm/bias tensors (%lld values); clip grad "
           "norm %g\n",
           o.lr, o.warmup, o.lr * o.min_lr_frac, ao.beta1, ao.beta2, o.weight_decay,
           groups[0].nparams, (long long)ndecay, groups[1].nparams, (long long)nno, o.clip);
    printf("%d steps of %d words, block size %d, %d thread%s; eval every %d steps on %d+%d "
           "words; ", o.steps, o.batch, o.block_size, o.threads, o.threads == 1 ? "" : "s",
           o.eval_every, n_eval_train, n_eval_val);
    if (o.gc_every)
        printf("gradient check every %d steps (%d coordinates per tensor, f64)\n", o.gc_every,
               o.gc_samples);
    else
        printf("no gradient checks\n");

    if (!ag_demo_make_dirs(o.out)) {
        fprintf(stderr, "tinygpt: cannot create %s: %s\n", o.out, strerror(errno));
        return 1;
    }
    gradchecker gc;
    FILE *gclog = ag_demo_open("tinygpt", o.out, "gradcheck.txt");
    gc_init(&gc, model, &cfg, o.seed, o.gc_samples, gclog);

    step_log sl = {0, o.steps, xmalloc((size_t)o.steps * sizeof(int)),
                   xmalloc((size_t)o.steps * sizeof(float)),
                   xmalloc((size_t)o.steps * sizeof(float))};
    eval_log *el = calloc(1, sizeof *el);
    char title[256];
    snprintf(title, sizeof title, "%d layers, n_embd %d, %d heads, %s, %d steps of %d words",
             o.n_layer, o.n_embd, o.n_head, o.norm, o.steps, o.batch);

    /* ---- training */
    printf("\n");
    ag_rng rng;
    ag_rng_seed(&rng, o.seed + 1);
    char **batch_words = xmalloc((size_t)o.batch * sizeof *batch_words);
    double t_train = 0, t_gc = 0, t_eval = 0, loss_sum = 0, last_print = 0, gnorm = 0;
    { /* where the losses start (ln vocab, give or take) */
        double t1 = now();
        el->step[0] = 0;
        el->train[0] = evaluate(E, model, &d, train, n_eval_train);
        el->val[0] = evaluate(E, model, &d, val, n_eval_val);
        el->n = 1;
        t_eval += now() - t1;
        printf("step %5d/%d  train %.4f  val %.4f  (ln %d = %.4f)\n", 0, o.steps, el->train[0],
               el->val[0], d.vocab, log((double)d.vocab));
    }
    long tokens = 0;
    int loss_n = 0;
    bool failed = false;
    char why[1024] = "", buf1[32], buf2[32];
    for (int s = 1; s <= o.steps; s++) {
        ag_arena_reset(S);
        for (int b = 0; b < o.batch; b++)
            batch_words[b] = train[ag_rng_below(&rng, (uint64_t)d.ntrain)];
        ag_tensor *ids, *targets;
        make_batch(S, &d, batch_words, o.batch, &ids, &targets);

        if (o.gc_every && s % o.gc_every == 0) {
            double t0 = now();
            bool verbose = gc.n == 0;
            if (tty) printf("\r\033[K%s", verbose ? "" : "gradient check ...");
            fflush(stdout);
            if (verbose)
                printf("gradient check at step %d (per tensor: the worst of %d coordinates; "
                       "all checks in %s/gradcheck.txt)\n", s, o.gc_samples, o.out);
            bool ok = gc_run(&gc, s, ids, targets, verbose, why, sizeof why);
            t_gc += now() - t0;
            if (tty) printf("\r\033[K");
            printf("gradient check %d at step %d: %s, worst relative error %.2e over %d tensors "
                   "(%.1f s)\n", gc.n, s, ok ? "passed" : "FAILED", gc.worst_rel[gc.n - 1],
                   gc.nparams, now() - t0);
            if (!ok) {
                fprintf(stderr, "tinygpt: gradient check failed at step %d: %s\n", s, why);
                failed = true;
                break;
            }
        }

        double t0 = now();
        ag_tensor *loss = ag_demo_gpt_loss(S, model, ids, targets);
        ag_backward(loss, NULL);
        gnorm = ag_optim_clip_grad_norm(opt, o.clip, false);
        ag_schedule_apply(&sched, opt, opt->steps);
        const double lr_now = opt->groups[0].lr;
        ag_optim_step(opt);
        ag_optim_zero_grad(opt);
        t_train += now() - t0;
        tokens += (long)ids->numel;
        const double lv = ag_item(loss);
        if (!isfinite(lv)) {
            fprintf(stderr, "tinygpt: the loss is %g at step %d\n", lv, s);
            return 1;
        }
        sl.step[sl.n] = s;
        sl.loss[sl.n] = (float)lv;
        sl.lr[sl.n++] = (float)lr_now;
        loss_sum += lv;
        loss_n++;

        const double elapsed = now() - t_start;
        if (s % o.eval_every == 0 || s == o.steps) {
            double t1 = now();
            double tr = evaluate(E, model, &d, train, n_eval_train);
            double va = evaluate(E, model, &d, val, n_eval_val);
            t_eval += now() - t1;
            if (el->n < 1024) {
                el->step[el->n] = s;
                el->train[el->n] = tr;
                el->val[el->n++] = va;
            }
            if (tty) printf("\r\033[K");
            printf("step %5d/%d  train %.4f  val %.4f  (batch mean %.4f)  lr %.2e  |g| %.2f  "
                   "%.0f tok/s  %s elapsed\n", s, o.steps, tr, va, loss_sum / loss_n, lr_now,
                   gnorm, (double)tokens / t_train, fmt_time(now() - t_start, buf1, sizeof buf1));
            loss_sum = 0;
            loss_n = 0;
            fflush(stdout);
        } else if (tty && elapsed - last_print > 0.1) {
            last_print = elapsed;
            printf("\r\033[Kstep %5d/%d  loss %.4f  lr %.2e  %.0f tok/s  ETA %s", s, o.steps,
                   lv, lr_now, (double)tokens / t_train,
                   fmt_time(elapsed / s * (o.steps - s), buf2, sizeof buf2));
            fflush(stdout);
        }
    }

    /* ---- results */
    write_plots(o.out, &sl, el, &gc, baseline, title, o.steps);
    if (!failed) {
        double t1 = now();
        double tr = evaluate(E, model, &d, train, n_eval_train);
        double va = evaluate(E, model, &d, val, d.nval);
        t_eval += now() - t1;
        printf("\nfinal: train %.4f, validation %.4f nats/token (all %d validation words); "
               "unigram baseline %.4f: validation is %.3f %s it\n", tr, va, d.nval,
               baseline, fabs(baseline - va), va <= baseline ? "below" : "ABOVE");
        if (o.n_samples > 0) {
            strset seen, valset;
            strset_init(&seen, d.words, d.ntrain);
            strset_init(&valset, d.words + d.ntrain, d.nval);
            ag_rng srng;
            ag_rng_seed(&srng, o.seed + 2);
            int novel = 0, in_val = 0;
            char *word = xmalloc((size_t)o.block_size + 1);
            printf("samples (temperature %g):", o.temperature);
            for (int i = 0; i < o.n_samples; i++) {
                sample_word(E, model, &d, &srng, o.temperature, word);
                bool is_new = !strset_has(&seen, word);
                novel += is_new;
                in_val += is_new && strset_has(&valset, word);
                printf("%s%s%s", i % 10 ? " " : "\n  ", word[0] ? word : "(empty)",
                       is_new ? "*" : "");
            }
            printf("\nnot in the training data (*): %d of %d (%.0f%%); real words among "
                   "them (in the validation set): %d\n", novel, o.n_samples,
                   100.0 * novel / o.n_samples, in_val);
            free(word);
            free(seen.slot);
            free(valset.slot);
        }
    }
    render_plots(o.out);
    const double total = now() - t_start;
    printf("time %.1f s: training %.1f s (%.0f tokens/s), gradient checks %.1f s, evaluation "
           "%.1f s; step arena peak %.1f MiB\n", total, t_train, (double)tokens / t_train, t_gc,
           t_eval, (double)ag_arena_peak(S) / (1 << 20));
    printf("gradient checks: %d passed, %d failed\n", gc.passed, gc.failed);
    if (failed) fprintf(stderr, "tinygpt: stopped: gradient check failed: %s\n", why);

    if (gclog) fclose(gclog);
    free(gc.tensor_rel);
    free(sl.step);
    free(sl.loss);
    free(sl.lr);
    free(el);
    free(batch_words);
    for (int i = 0; i < d.n; i++) free(d.words[i]);
    free(d.words);
    ag_arena_free(gc.P64);
    ag_arena_free(gc.A64);
    ag_arena_free(E);
    ag_arena_free(S);
    ag_arena_free(P);
    return failed ? 1 : 0;
}
