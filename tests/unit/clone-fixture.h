/* SPDX-License-Identifier: MIT */
/*
 * A clone over volcache devices for tests: a source whose every sector says
 * which sector it is, a zeroed destination and a formatted metadata store.
 * The fixture keeps the raw backend pointers for fault injection and
 * inspection; they belong to the clone and die with it.
 */
#ifndef TEST_CLONE_FIXTURE_H
#define TEST_CLONE_FIXTURE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lunclone/lunclone.h>

struct fixture {
	struct lc_backend *src, *dst, *mdev; /* src, dst owned by the clone */
	struct lc_meta *meta;
	struct lc_clone *clone;
	uint64_t size_bytes;
	uint32_t region_size;
	uint8_t *source_image;
};

/* The source's sector s: "SRC" + s, then bytes derived from s. */
static inline void fill_source_sector(uint8_t *p, uint64_t s)
{
	memcpy(p, "SRC\0", 4);
	memcpy(p + 4, &s, 8);
	for (unsigned i = 12; i < LC_SECTOR_SIZE; i++)
		p[i] = (uint8_t)(s * 31 + i);
}

/* A user write's sector: "WRT" + sector + version. */
static inline void fill_write_sector(uint8_t *p, uint64_t s, uint32_t version)
{
	memcpy(p, "WRT\0", 4);
	memcpy(p + 4, &s, 8);
	memcpy(p + 12, &version, 4);
	for (unsigned i = 16; i < LC_SECTOR_SIZE; i++)
		p[i] = (uint8_t)(s * 7 + version * 13 + i);
}

/* Source image; zero_from..zero_to (bytes) left zero when zero_to > 0. */
static inline uint8_t *make_source_image(uint64_t size_bytes, uint64_t zero_from,
					 uint64_t zero_to)
{
	uint8_t *img = malloc(size_bytes);

	if (!img)
		return NULL;
	for (uint64_t s = 0; s < size_bytes / LC_SECTOR_SIZE; s++)
		fill_source_sector(img + s * LC_SECTOR_SIZE, s);
	if (zero_to > zero_from)
		memset(img + zero_from, 0, zero_to - zero_from);
	return img;
}

/* Opens meta (writable) and the clone on the fixture's devices. */
static inline int fixture_open_clone(struct fixture *f, const struct lc_clone_config *cfg)
{
	struct lc_meta_params expect = {
		.region_size_bytes = f->region_size,
		.source_size_bytes = f->size_bytes,
	};
	struct lc_err err = { { 0 } };
	int r;

	r = lc_meta_open(f->mdev, f->dst, &expect, 0, &f->meta, &err);
	if (r < 0)
		return r;
	return lc_clone_open(f->src, f->dst, f->meta, cfg, &f->clone, &err);
}

static inline int fixture_setup(struct fixture *f, uint64_t size_bytes, uint32_t region_size,
				uint64_t dst_extra, const struct lc_clone_config *cfg)
{
	struct lc_meta_params p = { .region_size_bytes = region_size,
				    .source_size_bytes = size_bytes,
				    .dest_size_bytes = size_bytes + dst_extra };
	struct lc_err err = { { 0 } };
	int r;

	memset(f, 0, sizeof(*f));
	f->size_bytes = size_bytes;
	f->region_size = region_size;
	f->source_image = make_source_image(size_bytes, 0, 0);
	if (!f->source_image)
		return -1;
	if (lc_volcache_new("src", size_bytes, f->source_image, &f->src) < 0 ||
	    lc_volcache_new("dst", size_bytes + dst_extra, NULL, &f->dst) < 0 ||
	    lc_volcache_new("meta", lc_meta_required_size(region_size, size_bytes), NULL,
			    &f->mdev) < 0)
		return -1;
	r = lc_meta_format(f->mdev, &p, &err);
	if (r < 0)
		return r;
	return fixture_open_clone(f, cfg);
}

static inline void fixture_teardown(struct fixture *f)
{
	lc_clone_close(f->clone);
	lc_backend_close(f->mdev);
	free(f->source_image);
	memset(f, 0, sizeof(*f));
}

#endif
