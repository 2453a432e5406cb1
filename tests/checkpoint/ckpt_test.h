/* tests/checkpoint/ckpt_test.h — shared by the checkpoint suite's files:
 * scratch folders and hand-written files. */
#ifndef AG_TESTS_CKPT_TEST_H
#define AG_TESTS_CKPT_TEST_H

#include <ag/ag.h>
#include <check.h>
#include <stddef.h>

/* A fresh folder under $TMPDIR (or /tmp) into dir[size]; fails the test
 * when it cannot be made. */
void scratch_dir(char *dir, size_t size);
/* scratch_dir, and path[psize] = "<dir>/<name>". */
void scratch_path(char *dir, size_t size, char *path, size_t psize, const char *name);
/* Removes every entry of dir (one level) and dir itself. */
void scratch_remove(const char *dir);
/* Number of entries in dir other than . and .. */
int dir_entries(const char *dir);

/* Writes n bytes to path (fails the test on error). */
void write_raw(const char *path, const void *bytes, size_t n);
/* A safetensors file by hand: the 8-byte little-endian length of header,
 * header, then n data bytes. */
void write_st(const char *path, const char *header, const void *data, size_t n);
/* The whole file at path in a malloc'd buffer; its size in *n. */
unsigned char *read_all(const char *path, size_t *n);

/* The bytes of every parameter of m, concatenated (malloc'd), and their
 * count: to check that a failed load changed nothing. */
unsigned char *param_bytes(ag_module *m, size_t *n);
/* Asserts that m's parameters hold exactly the bytes of a snapshot. */
void expect_unchanged(ag_module *m, const unsigned char *snap, size_t n);

TCase *ckpt_validate_tcase(void);
TCase *ckpt_roundtrip_tcase(void);
TCase *ckpt_strict_tcase(void);
TCase *ckpt_atomic_tcase(void);
TCase *ckpt_copy_tcase(void);
TCase *ckpt_train_state_tcase(void);

#endif
