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
 * wamerican); --data FILE takes any one-item-per-line file. Items longer than
 * --block - 1 characters are left out (a batch is as long as its longest word
 * + 1, at most --block). The split is fixed, whatever --seed: the kept items,
 * in file order, are shuffled by Fisher-Yates (i from n-1 down to 1, swap with
 * j = ag_rng_below(i + 1), ag_rng seeded SPLIT_SEED); the last n/10 of them
 * are the validation words, the rest the training words. So it depends only on
 * the file and on --block. Each step's batch draws --batch training words
 * uniformly, with replacement, by an ag_rng seeded --seed + 1.
 *
 * Every K steps the current batch is run again by an f64 copy of the model and
 * the analytic gradient is compared with central finite differences at a
 * random sample of coordinates of every parameter tensor (ag_gradcheck_module).
 *
 * Data parallel: started by `mpirun -np N tinygpt ...` (with ag_dist built
 * over MPI), each rank takes its share of every batch of --batch words,
 * scales its loss to its share of the batch's target tokens, and ag_dist
 * sums the gradients, so the run follows the one-process run of the same
 * global batch up to rounding. Rank 0 alone prints, evaluates, checks
 * gradients and writes the outputs.
 *
 * Memory: the parameters, their gradients and the optimizer state live in one
 * arena; each step's batch, activations and graph in a step arena reset at the
 * top of the loop; the f64 copy in an arena of its own.
 */
#include <ag/ag.h>
#include <ag/dist.h>

#include "common/demo.h"
#include "common/demo_opts.h"
#include "common/tinygpt_model.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    double lr, min_lr_frac, weight_decay, beta1, beta2, clip, temperature;
    unsigned long long seed;
    int threads, eval_every, gc_every, gc_samples, n_samples, eval_words, bucket_kb;
    double dist_timeout;
    const char *data, *out, *norm, *act, *dtype, *loss_log, *save, *resume;
    int save_every, stop_after;
    bool steps_given, no_overlap;
} options;

/* Returns 0 to go on, or an exit status (-1 after --help). */
static int parse_options(int argc, char **argv, options *o) {
    const ag_adam_opts adam = ag_adamw_defaults();
    *o = (options){.n_layer = 2, .n_embd = 48, .n_head = 4, .block_size = 16, .batch = 32,
                   .steps = 3000, .warmup = -1, .lr = 1e-2, .min_lr_frac = 0.1,
                   .weight_decay = 0.01, .beta1 = adam.beta1, .beta2 = adam.beta2, .clip = 1.0,
                   .temperature = 0.8, .seed = 42,
                   .threads = 1, .eval_every = -1, .gc_every = -1, .gc_samples = 4,
                   .n_samples = 20, .eval_words = 1000, .out = "out/tinygpt",
                   .norm = "llama", .act = "gelu", .dtype = "f32", .bucket_kb = 1024,
                   .dist_timeout = 300};
    static const char *const dtypes[] = {"f32", "f64", NULL};
    const double many = 1e8; /* the most steps, words, samples... a run may ask for */
    const ag_demo_opt table[] = {
        {"layers", AG_DEMO_INT, &o->n_layer, 1, 64, .arg = "N",
         .help = "transformer blocks, 1..64 (2)"},
        {"embd", AG_DEMO_INT, &o->n_embd, 1, 4096, .arg = "N",
         .help = "embedding width, 1..4096 (48)"},
        {"heads", AG_DEMO_INT, &o->n_head, 1, 4096, .arg = "N",
         .help = "attention heads, dividing --embd (4)"},
        {"block", AG_DEMO_INT, &o->block_size, 2, 1024, .arg = "N",
         .help = "block size, 2..1024: longest word + 1 (16)"},
        {"norm", AG_DEMO_STRING, &o->norm, .arg = "KIND",
         .help = "llama, rmsnorm, sqrt, deepseek, t5, gemma, weightless,\n"
                 "scale or layernorm (llama)"},
        {"act", AG_DEMO_STRING, &o->act, .arg = "NAME",
         .help = "MLP activation: gelu, gelu_tanh, silu or relu (gelu;\n"
                 "relu's kink makes finite differences, and so the\n"
                 "gradient checks, fail now and then)"},
        {"data", AG_DEMO_STRING, &o->data, .arg = "FILE",
         .help = "one item per line (default " DICT_PATH ",\n"
                 "lowercase a-z words)"},
        {"batch", AG_DEMO_INT, &o->batch, 1, 65536, .arg = "N",
         .help = "words per step, 1..65536 (32)"},
        {"steps", AG_DEMO_INT, &o->steps, 1, many, .arg = "N",
         .help = "optimizer steps (3000; " BUILTIN_STEPS_STR " on the built-in corpus)",
         .given = &o->steps_given},
        {"lr", AG_DEMO_DOUBLE, &o->lr, 0, 10, .open_lo = true, .arg = "X",
         .help = "peak learning rate, up to 10 (1e-2)"},
        {"weight-decay", AG_DEMO_DOUBLE, &o->weight_decay, 0, 1e3, .arg = "X",
         .help = "AdamW weight decay of the decay group (0.01)"},
        {"warmup", AG_DEMO_INT, &o->warmup, 0, many, .arg = "N",
         .help = "linear warmup steps, then cosine to lr * --min-lr-frac\n"
                 "(min(100, steps/10))"},
        {"min-lr-frac", AG_DEMO_DOUBLE, &o->min_lr_frac, 0, 1, .arg = "X",
         .help = "the cosine's floor as a fraction of --lr, 0..1\n(0.1; 0: down to zero)"},
        {"beta1", AG_DEMO_DOUBLE, &o->beta1, 0, 1, .arg = "X",
         .help = "AdamW beta1, 0 <= X < 1 (0.9)"},
        {"beta2", AG_DEMO_DOUBLE, &o->beta2, 0, 1, .arg = "X",
         .help = "AdamW beta2, 0 <= X < 1 (0.999)"},
        {"clip", AG_DEMO_DOUBLE, &o->clip, 0, 1e6, .arg = "X",
         .help = "clip the gradients' total norm to X (1; 0: no clipping)"},
        {"seed", AG_DEMO_SEED, &o->seed, .arg = "N", .help = "initialization and batches (42)"},
        {"threads", AG_DEMO_INT, &o->threads, 1, 1024, .arg = "N",
         .help = "OpenMP and OpenBLAS threads (1: this model's tensors\n"
                 "are too small for a second thread to pay off)"},
        {"eval-every", AG_DEMO_INT, &o->eval_every, 1, many, .arg = "N",
         .help = "train/validation loss every N steps (steps/10)"},
        {"eval-words", AG_DEMO_INT, &o->eval_words, 1, many, .arg = "N",
         .help = "words of each set those evaluations use (1000; the\n"
                 "final validation loss uses all of them)"},
        {"gradcheck-every", AG_DEMO_INT, &o->gc_every, 0, many, .arg = "K",
         .help = "gradient check every K steps, 0: never (steps/5)"},
        {"gradcheck-samples", AG_DEMO_INT, &o->gc_samples, 1, 64, .arg = "N",
         .help = "coordinates checked per parameter tensor, 1..64 (4)"},
        {"samples", AG_DEMO_INT, &o->n_samples, 0, 100000, .arg = "N",
         .help = "words sampled at the end (20)"},
        {"temperature", AG_DEMO_DOUBLE, &o->temperature, 0, 1e3, .open_lo = true, .arg = "X",
         .help = "sampling temperature (0.8)"},
        {"dtype", AG_DEMO_STRING, &o->dtype, .choices = dtypes, .arg = "T",
         .help = "the model's parameters and activations: f32 or f64 (f32)"},
        {"bucket-kb", AG_DEMO_INT, &o->bucket_kb, 1, 1 << 20, .arg = "N",
         .help = "under mpirun: gradient bucket size in KiB (1024)"},
        {"no-overlap", AG_DEMO_FLAG, &o->no_overlap,
         .help = "under mpirun: sum the gradients after backward, not during"},
        {"dist-timeout", AG_DEMO_DOUBLE, &o->dist_timeout, 1, 1e6, .arg = "S",
         .help = "under mpirun: seconds to wait for the other ranks (300)"},
        {"loss-log", AG_DEMO_STRING, &o->loss_log, .arg = "FILE",
         .help = "write each step's batch loss, all digits, to FILE\n"
                 "(at the end of the run)"},
        {"save", AG_DEMO_STRING, &o->save, .arg = "DIR",
         .help = "save a checkpoint (model, optimizer, data order) in\n"
                 "DIR at the end of the run"},
        {"save-every", AG_DEMO_INT, &o->save_every, 1, many, .arg = "N",
         .help = "with --save: also every N steps"},
        {"stop-after", AG_DEMO_INT, &o->stop_after, 1, many, .arg = "N",
         .help = "end the run after step N (the schedule still spans\n"
                 "--steps; with --save, the checkpoint is at step N)"},
        {"resume", AG_DEMO_STRING, &o->resume, .arg = "DIR",
         .help = "go on from the checkpoint in DIR (same model options;\n"
                 "--steps is the total, as in the first run)"},
        {"out", AG_DEMO_STRING, &o->out, .arg = "DIR",
         .help = "where loss.dat/.gp/.png and gradcheck.* go (out/tinygpt)"},
    };
    const ag_demo_cmd cmd = {"tinygpt",
                             "A character-level GPT trained on a word list, with gradient checks "
                             "in f64.\n",
                             table, (int)(sizeof table / sizeof table[0])};
    const int rc = ag_demo_opts_parse(&cmd, argc, argv);
    if (rc >= 0) return rc == 0 ? -1 : rc;
    if (o->stop_after > o->steps)
        return ag_demo_opts_fail(&cmd, "stop-after", "%d is past --steps %d", o->stop_after,
                                 o->steps);
    if (o->beta1 >= 1)
        return ag_demo_opts_fail(&cmd, "beta1", "%g is out of range (>= 0 and < 1)", o->beta1);
    if (o->beta2 >= 1)
        return ag_demo_opts_fail(&cmd, "beta2", "%g is out of range (>= 0 and < 1)", o->beta2);
    if (o->save_every && !o->save)
        return ag_demo_opts_fail(&cmd, "save-every", "needs --save DIR");
    if (o->n_embd % o->n_head)
        return ag_demo_opts_fail(&cmd, "heads", "--embd %d is not divisible by --heads %d",
                                 o->n_embd, o->n_head);
    /* Floats of the parameters and of one step's activations, roughly: a
     * size the machine cannot hold is refused here, not mid-way. */
    const double tokens = (double)o->batch * o->block_size, e = o->n_embd;
    const double floats = o->n_layer * (12 * e * e + tokens * (20 * e + 3.0 * o->n_head *
                                                                          o->block_size));
    if (floats > 1073741824.0)
        return ag_demo_opts_fail(&cmd, NULL,
                                 "--layers %d --embd %d --heads %d --batch %d --block %d need "
                                 "about %.0f GiB; at most 4",
                                 o->n_layer, o->n_embd, o->n_head, o->batch, o->block_size,
                                 floats * 4 / 1073741824.0);
    return 0;
}

/* The defaults that follow --steps (known once the data is loaded: the
 * built-in corpus takes fewer steps). Returns false on a bad combination. */
static bool derive_defaults(options *o) {
    if (o->warmup < 0) o->warmup = o->steps / 10 < 100 ? o->steps / 10 : 100;
    if (o->warmup > o->steps) {
        fprintf(stderr, "tinygpt: --warmup: %d is longer than --steps %d\n", o->warmup, o->steps);
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
    struct stat st;
    if (f && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) { /* fopen accepts one */
        fprintf(stderr, "tinygpt: %s is a directory: expected a text file of items\n",
                dict ? DICT_PATH : path);
        fclose(f);
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

/* ag_gradcheck_module (ag/check.h) on the f64 copy, with the fourth-order
 * central difference
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
    ag_arena *P64;             /* its parameters */
    ag_named_param *p32, *p64; /* parameters of the f32 model and of the copy */
    int nparams;
    uint64_t seed;             /* which coordinates: seed + the step */
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
    gc->seed = seed ^ 0x9e3779b97f4a7c15ull;
    gc->samples = samples;
    gc->log = log;
    gc->tensor_rel = xmalloc((size_t)MAX_GC * (size_t)gc->nparams * sizeof(double));
}

/* The loss the check differentiates: the f64 copy on one batch. */
typedef struct {
    ag_demo_gpt *m;
    ag_tensor *ids, *targets;
} gc_batch;

static ag_tensor *gc_loss(ag_arena *A, void *userdata) {
    const gc_batch *b = userdata;
    return ag_demo_gpt_loss(A, b->m, b->ids, b->targets);
}

/* The copy takes the current values of the model. */
static void gc_sync(gradchecker *gc) {
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
}

/* Checks the gradient of the loss on (ids, targets) with respect to every
 * parameter of the current model at gc->samples random coordinates per tensor.
 * Returns true when every coordinate passes; on a failure, names the tensor
 * and the coordinate in why. */
static bool gc_run(gradchecker *gc, int step, ag_tensor *ids, ag_tensor *targets, bool verbose,
                   char *why, size_t whylen) {
    gc_sync(gc);
    gc_batch batch = {gc->m64, ids, targets};
    const ag_gradcheck_params_opts opts = {.samples = gc->samples,
                                           .seed = gc->seed + (uint64_t)step,
                                           .eps = GC_H, .atol = GC_ATOL, .rtol = GC_RTOL,
                                           .fourth_order = true};
    ag_gradcheck_params_result r;
    const bool ok = ag_gradcheck_module(&gc->m64->base, gc_loss, &batch, &opts, &r);
    if (r.nparams == gc->nparams) {
        if (gc->n < MAX_GC)
            for (int i = 0; i < gc->nparams; i++)
                gc->tensor_rel[(size_t)gc->n * gc->nparams + i] = r.param[i].max_rel_err;
        if (gc->log) ag_gradcheck_params_print(gc->log, &r);
        if (verbose || !ok) ag_gradcheck_params_print(stdout, &r);
    }
    if (!ok) snprintf(why, whylen, "%s", r.message);
    if (gc->n < MAX_GC) {
        gc->step[gc->n] = step;
        gc->worst_rel[gc->n] = r.max_rel_err;
        gc->worst_tol[gc->n] = r.max_err_over_tol;
        gc->n++;
    }
    if (ok) gc->passed++;
    else gc->failed++;
    if (gc->log) {
        fprintf(gc->log, "step %d: %s, worst relative error %.3e, worst |a-n|/tol %.3e\n\n",
                step, ok ? "passed" : "FAILED", r.max_rel_err, r.max_err_over_tol);
        fflush(gc->log);
    }
    ag_gradcheck_params_free(&r);
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

/* n doubles from malloc (xmalloc exits when there is no memory). */
static double *doubles(int n) { return xmalloc((size_t)(n > 0 ? n : 1) * sizeof(double)); }

/* loss.png: the batch loss, the train and validation losses, the unigram
 * baseline. */
static void plot_loss(const char *dir, const step_log *sl, const eval_log *el, double baseline,
                      const char *title, int steps) {
    const double xmax = steps + (steps + 39) / 40; /* room for the last point */
    double *bx = doubles(sl->n), *by = doubles(sl->n), *ex = doubles(el->n);
    for (int i = 0; i < sl->n; i++) bx[i] = sl->step[i], by[i] = sl->loss[i];
    for (int i = 0; i < el->n; i++) ex[i] = el->step[i];
    char ptitle[300], btitle[64];
    snprintf(ptitle, sizeof ptitle, "tinygpt: %s", title);
    snprintf(btitle, sizeof btitle, "unigram baseline %.3f", baseline);
    const ag_plot_series series[] = {
        {.title = "batch loss", .x = bx, .y = by, .n = sl->n, .color = "#c8c8e8"},
        {.title = "train", .x = ex, .y = el->train, .n = el->n, .style = AG_PLOT_LINESPOINTS,
         .color = "#1f4fbf", .width = 2},
        {.title = "validation", .x = ex, .y = el->val, .n = el->n,
         .style = AG_PLOT_LINESPOINTS, .color = "#d62728", .width = 2},
        {.title = btitle, .x = (double[]){0, xmax}, .y = (double[]){baseline, baseline}, .n = 2,
         .color = "#555555", .width = 2, .dashed = true},
    };
    const ag_plot p = {.title = ptitle, .xlabel = "step", .ylabel = "cross-entropy (nats/token)",
                       .xrange = true, .xmin = 0, .xmax = xmax, .series = series,
                       .nseries = (int)(sizeof series / sizeof series[0])};
    ag_plot_outcome out;
    ag_plot_save(&p, dir, "loss", &out);
    printf("plots: %s\n", out.message);
    free(bx), free(by), free(ex);
}

/* gradcheck.png: per check, the worst relative error of each tensor (grey
 * points), the worst of the check, and rtol, on a log axis. */
static void plot_gradcheck(const char *dir, const gradchecker *gc, int steps) {
    const int np = gc->nparams, nc = gc->n;
    const double xmax = steps + (steps + 39) / 40;
    ag_plot_series *series = xmalloc((size_t)(np + 2) * sizeof *series);
    double *x = doubles(nc), *rel = doubles(np * nc);
    for (int c = 0; c < nc; c++) x[c] = gc->step[c];
    for (int i = 0; i < np; i++) {
        for (int c = 0; c < nc; c++) rel[i * nc + c] = gc->tensor_rel[(size_t)c * np + i];
        series[i] = (ag_plot_series){.title = i ? NULL : "worst of one tensor", .x = x,
                                     .y = rel + i * nc, .n = nc, .style = AG_PLOT_POINTS,
                                     .color = "#a0a0a0", .width = 0.8};
    }
    series[np] = (ag_plot_series){.title = "worst of the check", .x = x, .y = gc->worst_rel,
                                  .n = nc, .style = AG_PLOT_LINESPOINTS, .color = "#1f4fbf",
                                  .width = 2};
    char rtitle[64], ptitle[256];
    snprintf(rtitle, sizeof rtitle, "rtol %g", GC_RTOL);
    series[np + 1] = (ag_plot_series){.title = rtitle, .x = (double[]){0, xmax},
                                      .y = (double[]){GC_RTOL, GC_RTOL}, .n = 2,
                                      .color = "#d62728", .width = 2, .dashed = true};
    snprintf(ptitle, sizeof ptitle, "tinygpt: f64 analytic gradient vs 4-point central "
             "differences (h = %g), %d coordinates of each of %d tensors per check", GC_H,
             gc->samples, np);
    const ag_plot p = {.title = ptitle, .xlabel = "training step",
                       .ylabel = "relative error |a-n|/max(|a|,|n|)", .logy = true,
                       .xrange = true, .xmin = 0, .xmax = xmax, .yrange = true, .ymin = 1e-12,
                       .ymax = 1, .series = series, .nseries = np + 2,
                       .extra = "set format y '10^{%L}'\n"};
    ag_plot_outcome out;
    ag_plot_save(&p, dir, "gradcheck", &out);
    printf("plots: %s\n", out.message);
    free(series), free(x), free(rel);
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

/* Everything one training run holds, from set-up to clean-up. */
typedef struct {
    options o;
    ag_demo_gpt_config cfg;
    dataset d;
    char *const *train, *const *val; /* the two parts of d.words */
    int n_eval_train, n_eval_val;    /* words the periodic evaluations use */
    double baseline;                 /* unigram entropy, nats/token */
    ag_arena *P, *S, *E;             /* parameters and optimizer state; a step; evaluation */
    ag_demo_gpt *model;
    ag_dist *dist;                   /* the other ranks (a world of one without mpirun) */
    int rank, world;
    ag_optim *opt;
    ag_schedule sched;
    gradchecker gc;
    FILE *gclog;
    step_log sl;
    eval_log *el;
    char title[256];                 /* of the loss plot */
    char **batch_words;
    ag_rng rng;                      /* which words make each batch */
    bool tty;
    double t_start, t_train, t_gc, t_eval, last_print;
    double gnorm;                    /* of the last step, before clipping */
    double loss_sum;                 /* batch losses since the last evaluation line */
    double *losses;                  /* every step's batch loss, for --loss-log */
    int start;                       /* steps done before this process: --resume */
    int loss_n;
    long tokens;
    char why[1024];                  /* what a failed gradient check said */
} run;

typedef enum { TRAINED, CHECK_FAILED, DIVERGED, SAVE_FAILED } outcome;

/* ---- set-up */

/* The model's shape, norm and activation from the options; false (after a
 * message) for an unknown norm or activation. */
static bool model_config(const options *o, ag_demo_gpt_config *cfg) {
    *cfg = (ag_demo_gpt_config){.block_size = o->block_size, .n_layer = o->n_layer,
                                .n_embd = o->n_embd, .n_head = o->n_head};
    if (!norm_from_name(o->norm, &cfg->norm)) {
        fprintf(stderr, "tinygpt: --norm: \"%s\" is not a norm this program knows (see --help)\n",
                o->norm);
        return false;
    }
    static const struct {
        const char *name;
        ag_activation act;
    } acts[] = {{"gelu", AG_ACT_GELU}, {"gelu_tanh", AG_ACT_GELU_TANH}, {"silu", AG_ACT_SILU},
                {"relu", AG_ACT_RELU}};
    const int nacts = (int)(sizeof acts / sizeof acts[0]);
    int ai = 0;
    while (ai < nacts && strcmp(acts[ai].name, o->act)) ai++;
    if (ai == nacts) {
        fprintf(stderr, "tinygpt: --act: \"%s\" is not one of gelu, gelu_tanh, silu, relu\n",
                o->act);
        return false;
    }
    cfg->act = acts[ai].act;
    return true;
}

/* Loads the words; prints what was kept, the split, the vocabulary and the
 * baseline. Returns 0 or an exit status. */
static int setup_data(run *r) {
    options *o = &r->o;
    dataset *d = &r->d;
    if (!load_data(d, o->data, o->block_size - 1)) return 1;
    const char *src = o->data ? o->data : DICT_PATH;
    if (d->builtin) {
        if (!o->steps_given) o->steps = BUILTIN_STEPS; /* more would learn it by heart */
        printf("tinygpt: %s not found (Debian package wamerican); training on the built-in "
               "corpus of %d words instead%s\n", DICT_PATH, d->n,
               o->steps_given ? "" : ", for " BUILTIN_STEPS_STR " steps");
    }
    else if (!o->data)
        printf("tinygpt: %d words from %s (lowercase a-z, at most %d letters; left out %ld "
               "other lines and %ld longer words)\n", d->n, DICT_PATH, o->block_size - 1,
               d->dropped_other, d->dropped_long);
    else
        printf("tinygpt: %d items from %s (at most %d characters; left out %ld longer ones)\n",
               d->n, src, o->block_size - 1, d->dropped_long);
    if (!derive_defaults(o)) return 2;
    r->cfg.vocab = d->vocab;
    printf("split (fixed seed): %d train, %d validation; vocabulary %d tokens: '.' (start/end) "
           "and \"", d->ntrain, d->nval, d->vocab);
    for (int v = 1; v < d->vocab; v++) putchar(isprint(d->ch_of[v]) ? d->ch_of[v] : '?');
    printf("\"\n");
    r->baseline = unigram_entropy(d);
    printf("baseline: the character-unigram entropy of the training data is %.4f nats/token\n",
           r->baseline);
    r->train = d->words;
    r->val = d->words + d->ntrain;
    r->n_eval_train = o->eval_words < d->ntrain ? o->eval_words : d->ntrain;
    r->n_eval_val = o->eval_words < d->nval ? o->eval_words : d->nval;
    return 0;
}

static void print_error(const char *message, void *userdata) {
    (void)userdata;
    fprintf(stderr, "%s\n", message);
}

/* Builds the model and AdamW with its schedule; prints them and the plan of
 * the run. Returns 0 or an exit status. */
static int setup_model(run *r) {
    const options *o = &r->o;
    r->P = ag_arena_new(0);
    r->S = ag_arena_new(0);
    r->E = ag_arena_new(0);
    r->model = ag_demo_gpt_new(r->P, &r->cfg, o->seed);
    if (!strcmp(o->dtype, "f64") && !ag_module_cast(&r->model->base, AG_F64)) return 1;
    ag_dist_opts dopts = ag_dist_defaults();
    dopts.bucket_bytes = (size_t)o->bucket_kb << 10;
    dopts.overlap = !o->no_overlap;
    dopts.timeout = o->dist_timeout;
    /* A model that differs between ranks is a message and exit 1, not abort. */
    ag_error_handler old = ag_set_error_handler(print_error, NULL);
    r->dist = ag_dist_new(r->P, &r->model->base, &dopts);
    ag_set_error_handler(old, NULL);
    if (!r->dist) return 1;
    printf("\n");
    ag_module_print(stdout, &r->model->base);
    ag_optim_groups gs = ag_optim_groups_from_model(&r->model->base, r->P, AG_OPTIM_INHERIT,
                                                    o->weight_decay);
    const ag_optim_group *groups = gs.groups;
    ag_adam_opts ao = ag_adamw_defaults();
    ao.lr = o->lr;
    ao.weight_decay = o->weight_decay;
    ao.beta1 = o->beta1;
    ao.beta2 = o->beta2;
    r->opt = ag_adamw_new(r->P, gs, &ao);
    if (!r->opt) return 1;
    int64_t ndecay = 0, nno = 0;
    for (int i = 0; i < groups[0].nparams; i++) ndecay += groups[0].params[i]->numel;
    for (int i = 0; i < groups[1].nparams; i++) nno += groups[1].params[i]->numel;
    r->sched = ag_schedule_warmup_cosine(o->warmup, o->steps, o->min_lr_frac);
    printf("\nAdamW lr %g (warmup %d steps, cosine to %g), betas (%g, %g), eps %g, weight decay "
           "%g on %d tensors (%lld values), none on %d norm/bias tensors (%lld values); ",
           o->lr, o->warmup, o->lr * o->min_lr_frac, ao.beta1, ao.beta2, ao.eps, o->weight_decay,
           groups[0].nparams, (long long)ndecay, groups[1].nparams, (long long)nno);
    if (o->clip > 0) printf("clip grad norm %g\n", o->clip);
    else printf("no gradient clipping\n");
    printf("%d steps of %d words, block size %d, %s, %d thread%s; eval every %d steps on %d+%d "
           "words; ", o->steps, o->batch, o->block_size, o->dtype, o->threads,
           o->threads == 1 ? "" : "s", o->eval_every, r->n_eval_train, r->n_eval_val);
    if (r->world > 1)
        printf("data parallel over %d ranks (%d buckets, overlap %s); ", r->world,
               ag_dist_num_buckets(r->dist), dopts.overlap ? "on" : "off");
    if (o->gc_every)
        printf("gradient check every %d steps (%d coordinates per tensor, f64)\n", o->gc_every,
               o->gc_samples);
    else
        printf("no gradient checks\n");
    return 0;
}

/* The gradient checker and the logs. Returns 0 or an exit
 * status. */
static int setup_outputs(run *r) {
    const options *o = &r->o;
    /* The folder is made, and the log copied into it, only when the run
     * reports (a run that stops early leaves nothing); whether it can be made
     * is known now. */
    if (r->rank == 0 && !ag_demo_dir_usable(o->out)) { /* rank 0 writes them */
        fprintf(stderr, "tinygpt: cannot create %s: %s\n", o->out, strerror(errno));
        return 1;
    }
    r->gclog = tmpfile();
    if (!r->gclog) {
        fprintf(stderr, "tinygpt: cannot make a temporary file: %s\n", strerror(errno));
        return 1;
    }
    gc_init(&r->gc, r->model, &r->cfg, o->seed, o->gc_samples, r->gclog);
    r->sl = (step_log){0, o->steps, xmalloc((size_t)o->steps * sizeof(int)),
                       xmalloc((size_t)o->steps * sizeof(float)),
                       xmalloc((size_t)o->steps * sizeof(float))};
    r->el = calloc(1, sizeof *r->el);
    if (!r->el) return 1;
    snprintf(r->title, sizeof r->title, "%d layers, n_embd %d, %d heads, %s, %d steps of %d words",
             o->n_layer, o->n_embd, o->n_head, o->norm, o->steps, o->batch);
    r->batch_words = xmalloc((size_t)o->batch * sizeof *r->batch_words);
    r->losses = xmalloc((size_t)o->steps * sizeof *r->losses);
    return 0;
}

/* ---- checkpoints (ag/train_state.h) */

/* The options a checkpoint must agree with to be resumed, as metadata. */
typedef struct {
    char v[8][48];
    ag_st_meta m[8];
    int n;
} config_meta;

static void config_of(const run *r, config_meta *c) {
    const options *o = &r->o;
    const struct {
        const char *key;
        long long num;
        const char *str;
    } kv[] = {{"model", 0, "tinygpt"}, {"vocab", r->cfg.vocab, NULL},
              {"block_size", o->block_size, NULL}, {"n_layer", o->n_layer, NULL},
              {"n_embd", o->n_embd, NULL}, {"n_head", o->n_head, NULL},
              {"norm", 0, o->norm}, {"act", 0, o->act}};
    c->n = (int)(sizeof kv / sizeof kv[0]);
    for (int i = 0; i < c->n; i++) {
        if (kv[i].str) snprintf(c->v[i], sizeof c->v[i], "%s", kv[i].str);
        else snprintf(c->v[i], sizeof c->v[i], "%lld", kv[i].num);
        c->m[i] = (ag_st_meta){kv[i].key, c->v[i]};
    }
}

static ag_train_state state_of(run *r, const config_meta *c, int done) {
    return (ag_train_state){&r->model->base, r->opt, &r->rng, done, c->n, c->m};
}

/* Saves after step done (rank 0); false after a message. */
static bool save_checkpoint(run *r, int done) {
    if (r->rank != 0) return true;
    config_meta c;
    config_of(r, &c);
    ag_train_state s = state_of(r, &c, done);
    ag_st_status st;
    if (ag_train_save(r->o.save, &s, NULL, &st)) return true;
    fprintf(stderr, "tinygpt: cannot save the checkpoint: %s\n", st.message);
    return false;
}

/* --resume: the checkpoint's options must be this run's; then the model,
 * the optimizer, the batch generator and the step. 0 or an exit status. */
static int resume(run *r) {
    const options *o = &r->o;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", o->resume);
    ag_st_status st;
    ag_st_file *f = ag_st_open(path, &st);
    if (!f) {
        fprintf(stderr, "tinygpt: --resume: %s\n", st.message);
        return 1;
    }
    config_meta c;
    config_of(r, &c);
    for (int i = 0; i < c.n; i++) {
        const char *v = ag_st_meta_get(f, c.m[i].key);
        if (!v || strcmp(v, c.m[i].value)) {
            fprintf(stderr, "tinygpt: --resume: %s has %s %s%s%s, this run %s (give the first "
                    "run's model options)\n", path, c.m[i].key, v ? "\"" : "no value",
                    v ? v : "", v ? "\"" : "", c.m[i].value);
            ag_st_close(f);
            return 2;
        }
    }
    ag_st_close(f);
    ag_train_state s = state_of(r, &c, 0);
    if (!ag_train_load(o->resume, &s, &st)) {
        fprintf(stderr, "tinygpt: --resume: %s\n", st.message);
        return 1;
    }
    if (s.data_position < 0 || s.data_position >= o->steps) {
        fprintf(stderr, "tinygpt: --resume: the checkpoint is at step %lld, and --steps is %d: "
                "nothing left to do\n", (long long)s.data_position, o->steps);
        return 2;
    }
    r->start = (int)s.data_position;
    printf("resumed from %s at step %d of %d\n", o->resume, r->start, o->steps);
    return 0;
}

/* Options, data, model, optimizer, outputs. Returns 0 to train, or an exit
 * status: -1 after --help, 1 or 2 after a message. */
static int setup(run *r, int argc, char **argv) {
    memset(r, 0, sizeof *r);
    r->rank = ag_dist_rank();
    r->world = ag_dist_world_size();
    int rc = parse_options(argc, argv, &r->o);
    if (rc) return rc;
    if (!model_config(&r->o, &r->cfg)) return 2;
    ag_demo_set_threads(r->o.threads);
    signal(SIGPIPE, SIG_IGN);
    r->t_start = now();
    r->tty = isatty(STDOUT_FILENO);
    if ((rc = setup_data(r)) || (rc = setup_model(r)) || (rc = setup_outputs(r))) return rc;
    ag_rng_seed(&r->rng, r->o.seed + 1); /* the batches; a checkpoint carries it on */
    if (r->o.resume && (rc = resume(r))) return rc;
    return 0;
}

/* ---- training */

/* Mean losses on the evaluation words of the train and validation sets
 * (n_val of the latter), timed. */
static void evaluate_both(run *r, int n_val, double *tr, double *va) {
    const double t1 = now();
    *tr = evaluate(r->E, r->model, &r->d, r->train, r->n_eval_train);
    *va = evaluate(r->E, r->model, &r->d, r->val, n_val);
    r->t_eval += now() - t1;
}

/* Where the losses start (ln vocab, give or take). */
static void evaluate_start(run *r) {
    eval_log *el = r->el;
    printf("\n");
    evaluate_both(r, r->n_eval_val, &el->train[0], &el->val[0]);
    el->step[0] = r->start;
    el->n = 1;
    printf("step %5d/%d  train %.4f  val %.4f  (ln %d = %.4f)\n", r->start, r->o.steps,
           el->train[0], el->val[0], r->d.vocab, log((double)r->d.vocab));
}

/* The gradient check at step s on the step's batch, with its lines; false
 * when it failed (r->why says where). */
static bool check_step(run *r, int s, ag_tensor *ids, ag_tensor *targets) {
    gradchecker *gc = &r->gc;
    const double t0 = now();
    const bool verbose = gc->n == 0;
    if (r->tty) printf("\r\033[K%s", verbose ? "" : "gradient check ...");
    fflush(stdout);
    if (verbose)
        printf("gradient check at step %d (per tensor: the worst of %d coordinates; "
               "all checks in %s/gradcheck.txt)\n", s, r->o.gc_samples, r->o.out);
    const bool ok = gc_run(gc, s, ids, targets, verbose, r->why, sizeof r->why);
    r->t_gc += now() - t0;
    if (r->tty) printf("\r\033[K");
    printf("gradient check %d at step %d: %s, worst relative error %.2e over %d tensors "
           "(%.1f s)\n", gc->n, s, ok ? "passed" : "FAILED", gc->worst_rel[gc->n - 1],
           gc->nparams, now() - t0);
    if (!ok) fprintf(stderr, "tinygpt: gradient check failed at step %d: %s\n", s, r->why);
    return ok;
}

/* One optimizer step on the batch: forward, backward, clipping, the
 * scheduled learning rate (into *lr), AdamW. Returns the batch loss. On
 * several ranks the batch is this rank's share, holding share of the global
 * batch's target tokens: the loss, a mean over this rank's targets, is
 * scaled by share so that the ranks' losses (and gradients) add up to the
 * global batch's; the returned loss is that sum. */
static double train_step(run *r, ag_tensor *ids, ag_tensor *targets, double share,
                         double *lr) {
    const double t0 = now();
    ag_tensor *loss = ag_demo_gpt_loss(r->S, r->model, ids, targets);
    if (r->world > 1) loss = ag_mul_scalar(r->S, loss, share);
    ag_dist_backward(r->dist, loss);
    /* --clip 0: the norm alone (for the log lines), no clipping */
    r->gnorm = ag_optim_clip_grad_norm(r->opt, r->o.clip > 0 ? r->o.clip : INFINITY, false);
    ag_schedule_apply(&r->sched, r->opt, r->opt->steps);
    *lr = r->opt->groups[0].lr;
    ag_optim_step(r->opt);
    ag_optim_zero_grad(r->opt);
    double sums[2] = {ag_item(loss), (double)ids->numel}; /* the ranks' losses and tokens */
    if (r->world > 1) ag_dist_sum_f64(r->dist, sums, 2);
    r->t_train += now() - t0;
    r->tokens += (long)sums[1];
    return sums[0];
}

/* Records step s; every eval_every steps (and at the last) evaluates and
 * prints a line, otherwise, on a terminal, a progress line now and then. */
static void log_step(run *r, int s, double lv, double lr_now) {
    const options *o = &r->o;
    step_log *sl = &r->sl;
    eval_log *el = r->el;
    char buf[32];
    r->losses[s - 1] = lv;
    sl->step[sl->n] = s;
    sl->loss[sl->n] = (float)lv;
    sl->lr[sl->n++] = (float)lr_now;
    r->loss_sum += lv;
    r->loss_n++;
    const double elapsed = now() - r->t_start;
    if (r->rank != 0) return; /* rank 0 evaluates and prints */
    if (s % o->eval_every == 0 || s == o->steps) {
        double tr, va;
        evaluate_both(r, r->n_eval_val, &tr, &va);
        if (el->n < 1024) {
            el->step[el->n] = s;
            el->train[el->n] = tr;
            el->val[el->n++] = va;
        }
        if (r->tty) printf("\r\033[K");
        printf("step %5d/%d  train %.4f  val %.4f  (batch mean %.4f)  lr %.2e  |g| %.2f  "
               "%.0f tok/s  %s elapsed\n", s, o->steps, tr, va, r->loss_sum / r->loss_n, lr_now,
               r->gnorm, (double)r->tokens / r->t_train,
               fmt_time(now() - r->t_start, buf, sizeof buf));
        r->loss_sum = 0;
        r->loss_n = 0;
        fflush(stdout);
    } else if (r->tty && elapsed - r->last_print > 0.1) {
        r->last_print = elapsed;
        printf("\r\033[Kstep %5d/%d  loss %.4f  lr %.2e  %.0f tok/s  ETA %s", s, o->steps, lv,
               lr_now, (double)r->tokens / r->t_train,
               fmt_time(elapsed / s * (o->steps - s), buf, sizeof buf));
        fflush(stdout);
    }
}

/* The training loop: a batch, the gradient check when one is due, a step,
 * its log line. */
static outcome train(run *r) {
    const options *o = &r->o;
    if (r->rank == 0) evaluate_start(r);
    int64_t first, count; /* this rank's words of each batch */
    ag_dist_shard(o->batch, &first, &count);
    const int last = o->stop_after ? o->stop_after : o->steps;
    for (int s = r->start + 1; s <= last; s++) {
        ag_arena_reset(r->S);
        long all = 0, mine = 0; /* target tokens: a word of n letters has n + 1 */
        for (int b = 0; b < o->batch; b++) {
            r->batch_words[b] = r->train[ag_rng_below(&r->rng, (uint64_t)r->d.ntrain)];
            const long n = (long)strlen(r->batch_words[b]) + 1;
            all += n;
            mine += b >= first && b < first + count ? n : 0;
        }
        ag_tensor *ids, *targets;
        make_batch(r->S, &r->d, r->batch_words + first, (int)count, &ids, &targets);
        /* rank 0 checks its share; a gradient check reads no other rank */
        if (r->rank == 0 && o->gc_every && s % o->gc_every == 0 &&
            !check_step(r, s, ids, targets))
            return CHECK_FAILED;
        double lr_now;
        const double lv = train_step(r, ids, targets, (double)mine / (double)all, &lr_now);
        if (!isfinite(lv)) {
            fprintf(stderr, "tinygpt: the loss is %g at step %d\n", lv, s);
            return DIVERGED;
        }
        log_step(r, s, lv, lr_now);
        if (o->save && ((o->save_every && s % o->save_every == 0) || s == last) &&
            !save_checkpoint(r, s))
            return SAVE_FAILED;
    }
    return TRAINED;
}

/* ---- the report */

/* n_samples words from the model, marking those not in the training data. */
static void print_samples(run *r) {
    const options *o = &r->o;
    const dataset *d = &r->d;
    strset seen, valset;
    strset_init(&seen, d->words, d->ntrain);
    strset_init(&valset, d->words + d->ntrain, d->nval);
    ag_rng srng;
    ag_rng_seed(&srng, o->seed + 2);
    int novel = 0, in_val = 0;
    char *word = xmalloc((size_t)o->block_size + 1);
    printf("samples (temperature %g):", o->temperature);
    for (int i = 0; i < o->n_samples; i++) {
        sample_word(r->E, r->model, d, &srng, o->temperature, word);
        bool is_new = !strset_has(&seen, word);
        novel += is_new;
        in_val += is_new && strset_has(&valset, word);
        printf("%s%s%s", i % 10 ? " " : "\n  ", word[0] ? word : "(empty)", is_new ? "*" : "");
    }
    printf("\nnot in the training data (*): %d of %d (%.0f%%); real words among "
           "them (in the validation set): %d\n", novel, o->n_samples,
           100.0 * novel / o->n_samples, in_val);
    free(word);
    free(seen.slot);
    free(valset.slot);
}

/* Makes the output folder and copies the gradient-check log into it; false
 * after a message. */
static bool save_outputs(run *r) {
    const char *dir = r->o.out;
    if (!ag_demo_make_dirs(dir)) {
        fprintf(stderr, "tinygpt: cannot create %s: %s\n", dir, strerror(errno));
        return false;
    }
    FILE *f = ag_demo_open("tinygpt", dir, "gradcheck.txt");
    if (!f) return false;
    char buf[8192];
    rewind(r->gclog);
    for (size_t n; (n = fread(buf, 1, sizeof buf, r->gclog)) > 0;) fwrite(buf, 1, n, f);
    const bool ok = !ferror(r->gclog) && fclose(f) == 0;
    if (!ok) fprintf(stderr, "tinygpt: cannot write %s/gradcheck.txt\n", dir);
    return ok;
}

/* --loss-log: "step loss" lines, %.17g; false after a message. */
static bool write_loss_log(const run *r) {
    FILE *f = fopen(r->o.loss_log, "w");
    if (!f) {
        fprintf(stderr, "tinygpt: cannot write %s: %s\n", r->o.loss_log, strerror(errno));
        return false;
    }
    for (int s = r->start; s < r->start + r->sl.n; s++)
        fprintf(f, "%d %.17g\n", s + 1, r->losses[s]);
    if (fclose(f) == 0) return true;
    fprintf(stderr, "tinygpt: cannot write %s\n", r->o.loss_log);
    remove(r->o.loss_log);
    return false;
}

/* The plots; after a full run, the final losses (all the validation words)
 * and samples; the times and the gradient-check count. False when the
 * outputs could not be written. */
static bool report(run *r, bool failed) {
    const options *o = &r->o;
    if (r->rank != 0) return true; /* rank 0 writes the outputs */
    const bool saved = save_outputs(r) && (!o->loss_log || write_loss_log(r));
    if (!failed) {
        double tr, va;
        evaluate_both(r, r->d.nval, &tr, &va);
        printf("\nfinal: train %.4f, validation %.4f nats/token (all %d validation words); "
               "unigram baseline %.4f: validation is %.3f %s it\n", tr, va, r->d.nval,
               r->baseline, fabs(r->baseline - va), va <= r->baseline ? "below" : "ABOVE");
        if (o->n_samples > 0) print_samples(r);
    }
    if (saved) {
        plot_loss(o->out, &r->sl, r->el, r->baseline, r->title, o->steps);
        plot_gradcheck(o->out, &r->gc, o->steps);
    }
    const double total = now() - r->t_start;
    printf("time %.1f s: training %.1f s (%.0f tokens/s), gradient checks %.1f s, evaluation "
           "%.1f s; step arena peak %.1f MiB\n", total, r->t_train,
           r->t_train > 0 ? (double)r->tokens / r->t_train : 0.0, r->t_gc, r->t_eval,
           (double)ag_arena_peak(r->S) / (1 << 20));
    printf("gradient checks: %d passed, %d failed\n", r->gc.passed, r->gc.failed);
    if (failed) fprintf(stderr, "tinygpt: stopped: gradient check failed: %s\n", r->why);
    return saved;
}

/* ---- clean-up */

static void cleanup(run *r) {
    if (r->gclog) fclose(r->gclog);
    free(r->gc.tensor_rel);
    free(r->sl.step);
    free(r->sl.loss);
    free(r->sl.lr);
    free(r->el);
    free(r->batch_words);
    free(r->losses);
    for (int i = 0; i < r->d.n; i++) free(r->d.words[i]);
    free(r->d.words);
    ag_arena_free(r->gc.P64);
    ag_arena_free(r->E);
    ag_arena_free(r->S);
    ag_arena_free(r->P);
}

int main(int argc, char **argv) {
    if (!ag_dist_init(&argc, &argv)) return 1;
    /* rank 0 alone prints; every rank reports its errors on stderr */
    if (ag_dist_rank() != 0 && !freopen("/dev/null", "w", stdout)) return 1;
    run r;
    const int rc = setup(&r, argc, argv);
    if (rc) {
        cleanup(&r);
        if (rc > 0) return rc; /* without finalizing: mpirun then ends the other ranks */
        ag_dist_finalize();
        return 0;
    }
    const outcome out = train(&r);
    const bool saved = out == DIVERGED || out == SAVE_FAILED || report(&r, out == CHECK_FAILED);
    cleanup(&r);
    if (out != TRAINED || !saved) return 1;
    ag_dist_finalize();
    return 0;
}
