/* SPDX-License-Identifier: MIT */
/*
 * handler_clone.so: tcmu-runner handler for the subtype "clone" (LIO backstore
 * user:clone). Glue only: the cfgstring parser is cfgstring.c, the status
 * socket status_socket.c, the clone itself lib/.
 *
 * Device life: open() parses the cfgstring, opens source (read-only),
 * destination and metadata store (formatting a missing or blank one with
 * format=auto), checks that the LUN has the source's size, starts the clone
 * (its hydration workers run from here to close()) and the status socket.
 * close() stops the socket, then closes the clone (final commit). A reopen
 * after tcmu-runner restarts resumes from the committed bitmap: the library
 * does that.
 *
 * Threads: nr_threads > 0 (two per CPU, 2 to 8), so tcmu-runner runs
 * read/write/flush/unmap on its own per-device work queue threads, where
 * blocking in the library is fine, and completes them itself. handle_cmd()
 * runs on the command processing thread and only answers MODE SENSE from
 * memory, never blocking.
 *
 * FUA: the generic path ignores the bit, but our write callout gets the
 * command and reads the CDB: a WRITE(10/12/16) or COMPARE AND WRITE with FUA
 * is written with LC_IO_FUA (data flushed on the destination and its regions
 * committed before the callout returns). MODE SENSE is ours so that it can
 * say so: DPOFUA=1 in the device-specific parameter, WCE=1 in the caching
 * page (writes are volatile until SYNCHRONIZE CACHE or FUA), and WP=1 once
 * the metadata store has failed and the clone refuses writes.
 *
 * Errors: every -errno from the library becomes a TCMU status (and, where
 * tcmu-runner has no status for it, our own sense) in to_tcmu_sts() only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <scsi/scsi.h>

#include <tcmu-runner.h>
#include <tcmur_device.h>

#include <lunclone/backend.h>
#include <lunclone/clone.h>
#include <lunclone/err.h>
#include <lunclone/meta.h>

#include "cfgstring.h"
#include "status_socket.h"
#include "util/iscsi_url.h"

/* The source's identity goes into the store as it is. */
_Static_assert(LC_BACKEND_IDENT_MAX <= LC_META_SOURCE_ID_MAX, "identity fits the store");

/*
 * tcmu-runner work-queue threads per device (blocking callouts): two per
 * CPU, at least 2, at most 8. More threads than can run add thread hops and
 * lock handoffs to every command and overlap nothing when the destination is
 * the page cache: in a uniprocessor guest 8 threads cost measurably more
 * context switches per request than 2 (tcmu-runner's own file handler uses
 * 2); on a larger host 8 keep that many requests blocked in the devices.
 */
#define HC_THREADS_PER_CPU 2
#define HC_THREADS_MIN 2
#define HC_THREADS_MAX 8
/* The bounce buffer of a work thread grows in steps of this. */
#define BOUNCE_STEP (1u << 20)
#define BOUNCE_ALIGN 4096u
/* SBC: FUA bit of WRITE(10/12/16) and COMPARE AND WRITE. */
#define CDB_FUA 0x08
/* SPC mode parameter header, device-specific parameter for direct access. */
#define MODE_DEVSPEC_WP 0x80
#define MODE_DEVSPEC_DPOFUA 0x10
#define MODE_PC_CHANGEABLE 1
#define ASC_WRITE_PROTECTED 0x2700
/* SBC thin provisioning: a write that needs space the destination has not. */
#define ASC_SPACE_ALLOC_FAILED_WP 0x2707
/* SBC: READ CAPACITY(16) byte 14, WRITE SAME's UNMAP and ANCHOR bits, and the Logical
 * Block Provisioning VPD page (byte 5: LBPU, LBPWS, LBPWS10, LBPRZ=xx1b). */
#define RC16_LBPME 0x80
#define RC16_LBPRZ 0x40
#define CDB_WRITE_SAME_UNMAP 0x08
#define CDB_WRITE_SAME_ANCHOR 0x10
#define VPD_LBP 0xb2
#define VPD_LBP_LBPU 0x80
#define VPD_LBP_LBPWS 0x40
#define VPD_LBP_LBPWS10 0x20
#define VPD_LBP_LBPRZ 0x04

struct clone_dev {
	struct tcmu_device *dev;
	struct hc_cfg cfg;
	/* The store's device; lc_clone_close() does not close it, so it
	 * stays open until after the clone is closed. */
	struct lc_backend *mdev;
	struct lc_clone *clone;
	/* The clone's store, owned by the clone: which device failed. */
	struct lc_meta *meta;
	struct hc_sock *sock;
	/* The source as messages show it: the backend's uri, whose iscsi://
	 * passwords are redacted (cfg.src may hold one). Owned. */
	char *src_name;
	/* Last error logged by the I/O path, so a failing device logs each
	 * kind of failure once instead of once per command. */
	atomic_int last_logged_err;
	/* The switch to read-only was logged (once per open). */
	atomic_bool read_only_logged;
};

enum io_kind {
	IO_READ,
	IO_WRITE,
	IO_FLUSH,
	IO_UNMAP,
};

static const char *const io_kind_names[] = {
    [IO_READ] = "read",
    [IO_WRITE] = "write",
    [IO_FLUSH] = "flush",
    [IO_UNMAP] = "unmap",
};

/* Per work-thread bounce buffer for commands whose data spans several
 * iovecs; freed by the key's destructor when tcmu-runner ends the thread. */
static pthread_key_t bounce_key;

struct bounce {
	void *buf;
	size_t size;
};

static void bounce_free(void *opaque)
{
	struct bounce *b = opaque;

	free(b->buf);
	free(b);
}

/* The calling thread's buffer of at least len bytes, or NULL. */
static void *bounce_get(size_t len)
{
	struct bounce *b = pthread_getspecific(bounce_key);
	size_t size;
	void *p;

	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return NULL;
		if (pthread_setspecific(bounce_key, b) != 0) {
			free(b);
			return NULL;
		}
	}
	if (b->size >= len)
		return b->buf;
	size = (len + BOUNCE_STEP - 1) / BOUNCE_STEP * BOUNCE_STEP;
	if (posix_memalign(&p, BOUNCE_ALIGN, size) != 0)
		return NULL;
	free(b->buf);
	b->buf = p;
	b->size = size;
	return p;
}

/* Copies without consuming the iovec (tcmu_memcpy_*_iovec advance it). */
static void copy_to_iov(const struct iovec *iov, size_t iov_cnt, const uint8_t *src, size_t len)
{
	for (size_t i = 0; i < iov_cnt && len > 0; i++) {
		size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;

		memcpy(iov[i].iov_base, src, n);
		src += n;
		len -= n;
	}
}

static void copy_from_iov(uint8_t *dst, const struct iovec *iov, size_t iov_cnt, size_t len)
{
	for (size_t i = 0; i < iov_cnt && len > 0; i++) {
		size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;

		memcpy(dst, iov[i].iov_base, n);
		dst += n;
		len -= n;
	}
}

/*
 * The one place where -errno becomes SCSI status. Source or destination read
 * errors are MEDIUM ERROR / unrecovered read error (never zeros), write and
 * flush errors MEDIUM ERROR / write error, a full destination (a thin file
 * whose file system is full, a quota) DATA PROTECT / space allocation failed
 * write protect as a thin-provisioned LUN says it (SBC-4 4.7.3.7), a clone
 * that turned read-only (metadata failure) DATA PROTECT / write protected, no
 * memory TASK SET FULL (the initiator retries), anything else HARDWARE ERROR
 * / internal target failure. Logs the first occurrence of each error.
 */
/*
 * Once per open, when a failed commit has turned the clone read-only: which
 * device failed, and what the admin does. The commit that failed may be the
 * housekeeper's periodic one, which nobody logs: the first command to fail
 * afterwards says it.
 */
static void log_read_only_once(struct clone_dev *cd)
{
	enum lc_meta_device dev = lc_meta_failed_device(cd->meta);
	struct lc_clone_status st;
	bool dest = dev == LC_META_DEV_DEST;

	if (dev == LC_META_DEV_NONE || atomic_exchange(&cd->read_only_logged, true))
		return;
	lc_clone_get_status(cd->clone, &st);
	tcmu_dev_err(cd->dev,
		     "%s '%s': a commit failed (%s): the clone is read-only until the LUN is "
		     "reopened after the device is repaired (handler_clone(8), FAILURES AND "
		     "RECOVERY)\n",
		     dest ? "destination" : "metadata store", dest ? cd->cfg.dst : cd->cfg.meta,
		     st.last_error ? strerror(-st.last_error) : "unknown error");
}

static int to_tcmu_sts(struct clone_dev *cd, struct tcmur_cmd *cmd, enum io_kind kind, int r)
{
	if (r == 0)
		return TCMU_STS_OK;
	log_read_only_once(cd);
	if (atomic_exchange(&cd->last_logged_err, r) != r)
		tcmu_dev_err(cd->dev, "%s failed: %s (repeats of this error are not logged)\n",
			     io_kind_names[kind], strerror(-r));
	switch (r) {
	case -ENOMEM:
		return TCMU_STS_NO_RESOURCE;
	case -EROFS:
		if (cmd && cmd->lib_cmd) {
			(void)tcmu_sense_set_data(cmd->lib_cmd->sense_buf, DATA_PROTECT,
						  ASC_WRITE_PROTECTED);
			return TCMU_STS_PASSTHROUGH_ERR;
		}
		return TCMU_STS_WR_ERR;
	case -ENOSPC:
	case -EDQUOT:
		if (kind != IO_READ && cmd && cmd->lib_cmd) {
			(void)tcmu_sense_set_data(cmd->lib_cmd->sense_buf, DATA_PROTECT,
						  ASC_SPACE_ALLOC_FAILED_WP);
			return TCMU_STS_PASSTHROUGH_ERR;
		}
		return kind == IO_READ ? TCMU_STS_RD_ERR : TCMU_STS_WR_ERR;
	case -EIO:
	case -ENODATA:
	case -EILSEQ:
	case -ETIMEDOUT:
	case -ENXIO:
	case -ENODEV:
		return kind == IO_READ ? TCMU_STS_RD_ERR : TCMU_STS_WR_ERR;
	default:
		return TCMU_STS_HW_ERR;
	}
}

static struct clone_dev *get_cd(struct tcmu_device *dev)
{
	return tcmur_dev_get_private(dev);
}

static int clone_read(struct tcmu_device *dev, struct tcmur_cmd *cmd, struct iovec *iov,
		      size_t iov_cnt, size_t len, off_t off)
{
	struct clone_dev *cd = get_cd(dev);
	void *buf;
	int r;

	/* A transfer length of 0 moves nothing and is no error (SBC). */
	if (len == 0)
		return TCMU_STS_OK;
	if (iov_cnt == 1 && iov[0].iov_len >= len)
		return to_tcmu_sts(cd, cmd, IO_READ,
				   lc_clone_read(cd->clone, iov[0].iov_base, len, (uint64_t)off));
	buf = bounce_get(len);
	if (!buf)
		return to_tcmu_sts(cd, cmd, IO_READ, -ENOMEM);
	r = lc_clone_read(cd->clone, buf, len, (uint64_t)off);
	if (r == 0)
		copy_to_iov(iov, iov_cnt, buf, len);
	return to_tcmu_sts(cd, cmd, IO_READ, r);
}

/* Whether the command behind this write callout asked for FUA. */
static bool cmd_wants_fua(const struct tcmur_cmd *cmd)
{
	const uint8_t *cdb;

	if (!cmd || !cmd->lib_cmd || !cmd->lib_cmd->cdb)
		return false;
	cdb = cmd->lib_cmd->cdb;
	switch (cdb[0]) {
	case WRITE_10:
	case WRITE_12:
	case WRITE_16:
	case COMPARE_AND_WRITE:
		return (cdb[1] & CDB_FUA) != 0;
	default:
		/* WRITE SAME's bit 3 is UNMAP, EXTENDED COPY has none. */
		return false;
	}
}

static int clone_write(struct tcmu_device *dev, struct tcmur_cmd *cmd, struct iovec *iov,
		       size_t iov_cnt, size_t len, off_t off)
{
	struct clone_dev *cd = get_cd(dev);
	unsigned flags = cmd_wants_fua(cmd) ? LC_IO_FUA : 0;
	void *buf;

	if (len == 0)
		return TCMU_STS_OK;
	if (iov_cnt == 1 && iov[0].iov_len >= len)
		return to_tcmu_sts(
		    cd, cmd, IO_WRITE,
		    lc_clone_write(cd->clone, iov[0].iov_base, len, (uint64_t)off, flags));
	buf = bounce_get(len);
	if (!buf)
		return to_tcmu_sts(cd, cmd, IO_WRITE, -ENOMEM);
	copy_from_iov(buf, iov, iov_cnt, len);
	return to_tcmu_sts(cd, cmd, IO_WRITE,
			   lc_clone_write(cd->clone, buf, len, (uint64_t)off, flags));
}

static int clone_flush(struct tcmu_device *dev, struct tcmur_cmd *cmd)
{
	struct clone_dev *cd = get_cd(dev);

	return to_tcmu_sts(cd, cmd, IO_FLUSH, lc_clone_flush(cd->clone));
}

static int clone_unmap(struct tcmu_device *dev, struct tcmur_cmd *cmd, uint64_t off, uint64_t len)
{
	struct clone_dev *cd = get_cd(dev);

	return to_tcmu_sts(cd, cmd, IO_UNMAP, lc_clone_discard(cd->clone, off, len));
}

/* ---- MODE SENSE ---- */

/* One mode page as tcmu-runner 1.5.4 builds it (scsi.c), current values. */
static size_t mode_page(struct clone_dev *cd, uint8_t page, bool changeable, uint8_t *out)
{
	switch (page) {
	case 0x01: /* read-write error recovery: all zero */
		memset(out, 0, 12);
		out[0] = 0x01;
		out[1] = 0x0a;
		return 12;
	case 0x08: /* caching */
		memset(out, 0, 20);
		out[0] = 0x08;
		out[1] = 0x12;
		if (!changeable && tcmu_dev_get_write_cache_enabled(cd->dev))
			out[2] = 0x04; /* WCE */
		return 20;
	case 0x0a: /* control: GLTSD, TAS, unlimited busy timeout */
		memset(out, 0, 12);
		out[0] = 0x0a;
		out[1] = 0x0a;
		if (!changeable) {
			out[2] = 0x02;
			out[5] = 0x40;
			out[8] = 0xff;
			out[9] = 0xff;
		}
		return 12;
	default:
		return 0;
	}
}

/*
 * MODE SENSE(6) and (10), as tcmu-runner's generic emulation (the same pages,
 * no block descriptors, saved values = current values), except that the
 * device-specific parameter says DPOFUA (and WP when the clone is read-only),
 * changeable values are honestly all zero (MODE SELECT changes nothing), and
 * an allocation length shorter than the header truncates instead of failing.
 * Runs on the command thread: memory only.
 */
static int emulate_mode_sense(struct clone_dev *cd, struct tcmulib_cmd *cmd)
{
	static const uint8_t pages[] = {0x01, 0x08, 0x0a};
	const uint8_t *cdb = cmd->cdb;
	bool ten = cdb[0] == MODE_SENSE_10;
	uint8_t page = cdb[2] & 0x3f, subpage = cdb[3];
	bool changeable = (cdb[2] >> 6) == MODE_PC_CHANGEABLE;
	size_t alloc_len = ten ? ((size_t)cdb[7] << 8 | cdb[8]) : cdb[4];
	size_t used = ten ? 8 : 4;
	struct lc_clone_status st;
	uint8_t buf[8 + 12 + 20 + 12];
	uint8_t devspec = MODE_DEVSPEC_DPOFUA;
	bool found = false;

	if (alloc_len == 0)
		return TCMU_STS_OK;
	memset(buf, 0, sizeof(buf));
	for (size_t i = 0; i < sizeof(pages); i++) {
		if (page != 0x3f && (page != pages[i] || subpage != 0))
			continue;
		used += mode_page(cd, pages[i], changeable, buf + used);
		found = true;
	}
	if (!found)
		return TCMU_STS_INVALID_CDB;

	lc_clone_get_status(cd->clone, &st);
	if (st.state == LC_CLONE_READ_ONLY)
		devspec |= MODE_DEVSPEC_WP;
	if (ten) {
		buf[0] = (uint8_t)((used - 2) >> 8);
		buf[1] = (uint8_t)(used - 2);
		buf[3] = devspec;
	} else {
		buf[0] = (uint8_t)(used - 1);
		buf[2] = devspec;
	}
	copy_to_iov(cmd->iovec, cmd->iov_cnt, buf, used < alloc_len ? used : alloc_len);
	return TCMU_STS_OK;
}

/* ---- thin provisioning: LBPRZ as it really is ---- */

/*
 * tcmu-runner 1.5.4 always reports LBPRZ=1 (unmapped blocks read as zeros),
 * in READ CAPACITY(16) and in the Logical Block Provisioning VPD page. Ours
 * is true only when the destination's discards read back as zeros (a file:
 * hole punching; not a block device), so both are answered here with the
 * clone's answer; the rest of the data is tcmu-runner's.
 */
static int emulate_read_capacity_16(struct clone_dev *cd, struct tcmulib_cmd *cmd)
{
	uint64_t last_lba = tcmu_dev_get_num_lbas(cd->dev) - 1;
	uint32_t block = tcmu_dev_get_block_size(cd->dev);
	uint8_t buf[32];

	memset(buf, 0, sizeof(buf));
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(last_lba >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		buf[8 + i] = (uint8_t)(block >> (24 - 8 * i));
	buf[14] = RC16_LBPME;
	if (lc_clone_discard_zeroes(cd->clone))
		buf[14] |= RC16_LBPRZ;
	copy_to_iov(cmd->iovec, cmd->iov_cnt, buf, sizeof(buf));
	return TCMU_STS_OK;
}

static int emulate_vpd_lbp(struct clone_dev *cd, struct tcmulib_cmd *cmd)
{
	uint8_t buf[8];

	memset(buf, 0, sizeof(buf));
	buf[1] = VPD_LBP;
	buf[3] = 4; /* page length */
	if (lc_clone_discard_zeroes(cd->clone))
		buf[5] = VPD_LBP_LBPRZ;
	if (tcmu_dev_get_unmap_enabled(cd->dev))
		buf[5] |= VPD_LBP_LBPU | VPD_LBP_LBPWS | VPD_LBP_LBPWS10;
	copy_to_iov(cmd->iovec, cmd->iov_cnt, buf, sizeof(buf));
	return TCMU_STS_OK;
}

static bool all_zero(const struct iovec *iov, size_t iov_cnt, size_t len)
{
	for (size_t i = 0; i < iov_cnt && len > 0; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;

		for (size_t j = 0; j < n; j++)
			if (p[j])
				return false;
		len -= n;
	}
	return true;
}

/*
 * WRITE SAME with UNMAP: tcmu-runner unmaps without looking at the data. An
 * unmap may stand in for the write only when unmapped blocks read back as
 * the data written, that is when the data is zeros and LBPRZ holds (SBC-4
 * 5.50); otherwise the UNMAP bit is cleared here so that the generic path
 * writes the pattern.
 */
static void check_write_same_unmap(struct clone_dev *cd, struct tcmulib_cmd *cmd)
{
	if (!(cmd->cdb[1] & CDB_WRITE_SAME_UNMAP))
		return;
	if (lc_clone_discard_zeroes(cd->clone) &&
	    all_zero(cmd->iovec, cmd->iov_cnt, tcmu_dev_get_block_size(cd->dev)))
		return;
	cmd->cdb[1] &= (uint8_t)~CDB_WRITE_SAME_UNMAP;
}

/* MODE SENSE, READ CAPACITY(16) and the LBP VPD page are ours; everything
 * else goes to tcmu-runner's generic path (WRITE SAME after a look). */
static int clone_handle_cmd(struct tcmu_device *dev, struct tcmur_cmd *tcmur_cmd)
{
	struct tcmulib_cmd *cmd = tcmur_cmd->lib_cmd;
	struct clone_dev *cd = get_cd(dev);
	uint8_t *cdb = cmd->cdb;

	switch (cdb[0]) {
	case MODE_SENSE:
	case MODE_SENSE_10:
		return emulate_mode_sense(cd, cmd);
	case SERVICE_ACTION_IN_16:
		if ((cdb[1] & 0x1f) == READ_CAPACITY_16)
			return emulate_read_capacity_16(cd, cmd);
		return TCMU_STS_NOT_HANDLED;
	case INQUIRY:
		if ((cdb[1] & 0x01) && cdb[2] == VPD_LBP)
			return emulate_vpd_lbp(cd, cmd);
		return TCMU_STS_NOT_HANDLED;
	case WRITE_SAME:
	case WRITE_SAME_16:
		/* ANCHOR: anchored LBAs are not supported (ANC_SUP=0 in VPD
		 * B2), so the bit is an invalid field (SBC-4 5.49, 5.50);
		 * tcmu-runner does not look at it. */
		if (cdb[1] & CDB_WRITE_SAME_ANCHOR)
			return TCMU_STS_INVALID_CDB;
		check_write_same_unmap(cd, cmd);
		return TCMU_STS_NOT_HANDLED;
	default:
		return TCMU_STS_NOT_HANDLED;
	}
}

/* ---- configuration ---- */

static bool clone_check_config(const char *cfgstring, char **reason)
{
	struct lc_err err = {.msg = ""};
	struct hc_cfg cfg;
	struct stat stbuf;
	const char *missing = NULL;
	int r;

	r = hc_cfg_parse(cfgstring, &cfg, &err);
	if (r == 0) {
		/* What open() would trip over first, said now for targetcli. */
		/* An iscsi:// source is not a path: open() logs in to it. */
		if (!lc_iscsi_url_is_iscsi(cfg.src) && stat(cfg.src, &stbuf) < 0)
			missing = "src";
		else if (stat(cfg.dst, &stbuf) < 0)
			missing = "dst";
		else if (cfg.format == HC_CFG_FORMAT_NEVER && stat(cfg.meta, &stbuf) < 0)
			missing = "meta";
		if (missing) {
			r = -errno;
			(void)lc_err_set(&err, r, "%s: '%s': %s", missing,
					 strcmp(missing, "src") == 0   ? cfg.src
					 : strcmp(missing, "dst") == 0 ? cfg.dst
								       : cfg.meta,
					 strerror(-r));
		}
		hc_cfg_clear(&cfg);
	}
	if (r == 0)
		return true;
	/* tcmu-runner frees it; NULL (no memory) prints as "(null)". */
	*reason = strdup(err.msg);
	return false;
}

/* The LIO device name from /sys/class/uio/<uio>/name ("tcm-user/<hba>/<name>/
 * <cfgstring>"), or the uio name when that cannot be read. */
static void device_name(struct tcmu_device *dev, char *out, size_t size)
{
	const char *uio = tcmu_dev_get_uio_name(dev);
	char path[128], line[512];
	char *name, *end;
	FILE *f;

	(void)snprintf(out, size, "%s", uio);
	(void)snprintf(path, sizeof(path), "/sys/class/uio/%s/name", uio);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f) && strncmp(line, "tcm-user/", 9) == 0) {
		name = strchr(line + 9, '/');
		end = name ? strchr(name + 1, '/') : NULL;
		/* Not empty, fits, and no hidden file (".", ".."). */
		if (end && end > name + 1 && (size_t)(end - name - 1) < size && name[1] != '.') {
			*end = '\0';
			(void)snprintf(out, size, "%s", name + 1);
		}
	}
	(void)fclose(f);
}

/* Whether the store's device holds nothing yet: both superblock slots
 * (the first two metadata blocks) all zero. A real store never does. */
static int store_is_blank(struct lc_backend *mdev, bool *ret_blank)
{
	static uint8_t zero[2 * LC_META_BLOCK_SIZE];
	uint8_t *buf;
	int r;

	if (mdev->size_bytes < sizeof(zero)) {
		*ret_blank = true; /* too small for a store: format says so */
		return 0;
	}
	if (posix_memalign((void **)&buf, BOUNCE_ALIGN, sizeof(zero)) != 0)
		return -ENOMEM;
	r = lc_backend_pread(mdev, buf, sizeof(zero), 0);
	if (r == 0)
		*ret_blank = memcmp(buf, zero, sizeof(zero)) == 0;
	free(buf);
	return r;
}

/*
 * Opens the metadata store for src/dst; with format=auto a missing file is
 * created and a missing, empty or blank store formatted first. On success
 * the caller owns *ret_mdev and *ret_meta.
 */
static int open_store(struct clone_dev *cd, struct lc_backend *src, struct lc_backend *dst,
		      struct lc_backend **ret_mdev, struct lc_meta **ret_meta)
{
	const struct hc_cfg *cfg = &cd->cfg;
	uint32_t region = cfg->region_size_bytes ? cfg->region_size_bytes : LC_REGION_SIZE_DEFAULT;
	uint64_t required = lc_meta_required_size(region, src->size_bytes);
	struct lc_err err = {.msg = ""};
	struct lc_meta_params params;
	struct lc_backend *mdev = NULL;
	bool format = false;
	struct stat stbuf;
	int fd, r;

	if (stat(cfg->meta, &stbuf) < 0) {
		r = -errno;
		if (r != -ENOENT || cfg->format == HC_CFG_FORMAT_NEVER) {
			tcmu_dev_err(cd->dev, "metadata store: '%s': %s%s\n", cfg->meta,
				     strerror(-r), r == -ENOENT ? " (format=never)" : "");
			return r;
		}
		fd = open(cfg->meta, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			r = -errno;
			tcmu_dev_err(cd->dev, "metadata store: cannot create '%s': %s\n", cfg->meta,
				     strerror(-r));
			return r;
		}
		format = true;
	} else if (S_ISREG(stbuf.st_mode) && stbuf.st_size == 0 &&
		   cfg->format == HC_CFG_FORMAT_AUTO) {
		fd = open(cfg->meta, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			tcmu_dev_err(cd->dev, "metadata store: '%s': %s\n", cfg->meta,
				     strerror(-r));
			return r;
		}
		format = true;
	} else {
		fd = -1;
	}
	if (fd >= 0) {
		if (ftruncate(fd, (off_t)required) < 0) {
			r = -errno;
			(void)close(fd);
			tcmu_dev_err(cd->dev,
				     "metadata store: cannot size '%s' to %" PRIu64 ": %s\n",
				     cfg->meta, required, strerror(-r));
			return r;
		}
		(void)close(fd);
	}

	r = lc_backend_open(cfg->meta, 0, &mdev, &err);
	if (r < 0) {
		tcmu_dev_err(cd->dev, "metadata store: '%s': %s\n", cfg->meta,
			     err.msg[0] ? err.msg : strerror(-r));
		return r;
	}
	if (!format && cfg->format == HC_CFG_FORMAT_AUTO) {
		r = store_is_blank(mdev, &format);
		if (r < 0) {
			tcmu_dev_err(cd->dev, "metadata store: '%s': reading it: %s\n", cfg->meta,
				     strerror(-r));
			goto out_close;
		}
	}
	if (format) {
		memset(&params, 0, sizeof(params));
		params.region_size_bytes = region;
		params.source_size_bytes = src->size_bytes;
		params.dest_size_bytes = dst->size_bytes;
		/* What the source says it is (an iSCSI LUN's VPD 0x83 designator):
		 * a later open refuses another LUN behind the same URL. */
		memcpy(params.source_id, src->ident, src->ident_len);
		params.source_id_len = src->ident_len;
		tcmu_dev_info(
		    cd->dev,
		    "metadata store: '%s' holds no store, formatting (region size %" PRIu32
		    ", format=auto)\n",
		    cfg->meta, region);
		r = lc_meta_format(mdev, &params, &err);
		if (r < 0) {
			tcmu_dev_err(cd->dev, "metadata store: formatting '%s' failed: %s\n",
				     cfg->meta, err.msg[0] ? err.msg : strerror(-r));
			goto out_close;
		}
	}
	memset(&params, 0, sizeof(params));
	params.region_size_bytes = cfg->region_size_bytes;
	params.source_size_bytes = src->size_bytes;
	params.dest_size_bytes = dst->size_bytes;
	memcpy(params.source_id, src->ident, src->ident_len);
	params.source_id_len = src->ident_len;
	r = lc_meta_open(mdev, dst, &params, 0, ret_meta, &err);
	if (r < 0) {
		tcmu_dev_err(cd->dev, "metadata store: '%s': %s\n", cfg->meta,
			     err.msg[0] ? err.msg : strerror(-r));
		goto out_close;
	}
	*ret_mdev = mdev;
	return 0;

out_close:
	lc_backend_close(mdev);
	return r;
}

static int open_backend(struct clone_dev *cd, const char *role, const char *path, unsigned flags,
			struct lc_backend **ret_be)
{
	struct lc_err err = {.msg = ""};
	int r;

	r = lc_backend_open(path, flags, ret_be, &err);
	if (r < 0 && lc_iscsi_url_is_iscsi(path)) /* the message names it, redacted */
		tcmu_dev_err(cd->dev, "%s: %s\n", role, err.msg[0] ? err.msg : strerror(-r));
	else if (r < 0)
		tcmu_dev_err(cd->dev, "%s: '%s': %s\n", role, path,
			     err.msg[0] ? err.msg : strerror(-r));
	return r;
}

/*
 * The clone's on_source_change: hydration found the source unreachable and
 * waits for it, or found it back. Logged here, once per change (the library
 * calls this once per change; repeats of read errors are not logged).
 */
static void log_source_change(void *opaque, struct lc_backend *src, bool reachable, int err)
{
	struct clone_dev *cd = opaque;
	struct lc_backend_iscsi_stats stats;

	if (reachable) {
		tcmu_dev_info(cd->dev, "source '%s': reachable again, hydration resumed\n",
			      cd->src_name);
		return;
	}
	if (lc_backend_iscsi_get_stats(src, &stats) == 0 && stats.last_error[0] != '\0')
		tcmu_dev_warn(cd->dev,
			      "source '%s': unreachable, hydration waits for it and retries: %s\n",
			      cd->src_name, stats.last_error);
	else
		tcmu_dev_warn(cd->dev,
			      "source '%s': unreachable, hydration waits for it and retries: %s\n",
			      cd->src_name, strerror(-err));
}

static void clone_dev_free(struct clone_dev *cd)
{
	int r;

	if (!cd)
		return;
	hc_sock_stop(cd->sock);
	r = lc_clone_close(cd->clone);
	if (r < 0)
		tcmu_dev_err(cd->dev, "close: final commit of '%s' failed: %s\n", cd->cfg.meta,
			     strerror(-r));
	lc_backend_close(cd->mdev);
	hc_cfg_clear(&cd->cfg);
	free(cd->src_name);
	free(cd);
}

static int clone_open(struct tcmu_device *dev, bool reopen)
{
	const char *cfgstring = tcmu_dev_get_cfgstring(dev);
	uint64_t lun_bytes = tcmu_dev_get_num_lbas(dev) * tcmu_dev_get_block_size(dev);
	uint32_t lio_block = tcmu_dev_get_block_size(dev);
	struct lc_backend *src = NULL, *dst = NULL;
	struct lc_err err = {.msg = ""};
	struct lc_meta_info info;
	struct lc_meta *meta;
	struct clone_dev *cd;
	char name[HC_CFG_NAME_MAX + 1];
	uint32_t block, unmap_gran;
	unsigned direct;
	int r;

	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -ENOMEM;
	cd->dev = dev;
	r = hc_cfg_parse(cfgstring, &cd->cfg, &err);
	if (r < 0) {
		tcmu_dev_err(dev, "cfgstring '%s': %s\n", cfgstring, err.msg);
		free(cd);
		return r;
	}
	direct = cd->cfg.direct ? LC_BACKEND_DIRECT : 0;

	r = open_backend(cd, "src", cd->cfg.src, LC_BACKEND_RDONLY | direct, &src);
	if (r < 0)
		goto out_free;
	cd->src_name = strdup(src->uri);
	if (!cd->src_name) {
		r = -ENOMEM;
		goto out_close_backends;
	}
	r = open_backend(cd, "dst", cd->cfg.dst, direct, &dst);
	if (r < 0)
		goto out_close_backends;
	if (lun_bytes != src->size_bytes) {
		tcmu_dev_err(dev,
			     "size: LUN is %" PRIu64 " bytes but source '%s' is %" PRIu64
			     "; create the backstore with size=%" PRIu64 "\n",
			     lun_bytes, cd->src_name, src->size_bytes, src->size_bytes);
		r = -EINVAL;
		goto out_close_backends;
	}
	if (dst->size_bytes < src->size_bytes) {
		tcmu_dev_err(
		    dev, "dst: '%s' is smaller than the source (%" PRIu64 " < %" PRIu64 " bytes)\n",
		    cd->cfg.dst, dst->size_bytes, src->size_bytes);
		r = -EINVAL;
		goto out_close_backends;
	}
	block = src->logical_block_size > dst->logical_block_size ? src->logical_block_size
								  : dst->logical_block_size;
	if (lio_block == 0 || block == 0 || lio_block % block != 0) {
		tcmu_dev_err(dev,
			     "block size: LUN has %" PRIu32 "-byte blocks, the devices need "
			     "multiples of %" PRIu32 "; set the backstore's block_size\n",
			     lio_block, block);
		r = -EINVAL;
		goto out_close_backends;
	}
	r = open_store(cd, src, dst, &cd->mdev, &meta);
	if (r < 0)
		goto out_close_backends;
	lc_meta_get_info(meta, &info);

	cd->cfg.clone.on_source_change = log_source_change;
	cd->cfg.clone.on_source_change_opaque = cd;
	/* Takes src, dst and meta, also when it fails. */
	r = lc_clone_open(src, dst, meta, &cd->cfg.clone, &cd->clone, &err);
	if (r < 0) {
		tcmu_dev_err(dev, "clone: '%s' onto '%s': %s\n", cd->src_name, cd->cfg.dst,
			     err.msg[0] ? err.msg : strerror(-r));
		goto out_free;
	}
	/* Borrowed from the clone, which frees it at close. */
	cd->meta = meta;

	if (cd->cfg.name[0])
		(void)snprintf(name, sizeof(name), "%s", cd->cfg.name);
	else
		device_name(dev, name, sizeof(name));
	r = hc_sock_start(HC_SOCK_DIR, name, cd->clone, cd->meta, &cd->sock, &err);
	if (r < 0) {
		tcmu_dev_err(dev, "status socket: %s\n", err.msg);
		goto out_free;
	}

	/* Writes are volatile until SYNCHRONIZE CACHE or FUA: say so (WCE). */
	tcmu_dev_set_write_cache_enabled(dev, true);
	/* Whole regions discard without copying: ask initiators for them.
	 * tcmu-runner uses the alignment as a divisor (0 would be SIGFPE in
	 * WRITE SAME) and initiators as the first aligned LBA modulo the
	 * granularity: one granularity says "aligned at LBA 0" to both. */
	unmap_gran = info.region_size_bytes > lio_block ? info.region_size_bytes / lio_block : 1;
	tcmu_dev_set_opt_unmap_gran(dev, unmap_gran, false);
	tcmu_dev_set_unmap_gran_align(dev, unmap_gran);
	atomic_init(&cd->last_logged_err, 0);
	atomic_init(&cd->read_only_logged, false);
	tcmu_dev_info(dev,
		      "%s clone of '%s' onto '%s' (store '%s', %s): %" PRIu64 "/%" PRIu64
		      " regions of %" PRIu32 " bytes hydrated, %u workers, socket '%s'\n",
		      reopen ? "reopened" : "opened", cd->src_name, cd->cfg.dst, cd->cfg.meta,
		      info.clean ? "clean" : "not closed cleanly, resuming from the last commit",
		      info.nr_hydrated, info.nr_regions, info.region_size_bytes,
		      cd->cfg.clone.nr_workers, hc_sock_path(cd->sock));
	/* Published last: the callouts may run as soon as this is set. */
	tcmur_dev_set_private(dev, cd);
	return 0;

out_close_backends:
	lc_backend_close(dst);
	lc_backend_close(src);
out_free:
	clone_dev_free(cd);
	return r;
}

static void clone_close(struct tcmu_device *dev)
{
	struct clone_dev *cd = get_cd(dev);

	tcmur_dev_set_private(dev, NULL);
	clone_dev_free(cd);
}

static const char clone_cfg_desc[] =
    "src=SOURCE;dst=DEST;meta=STORE[;key=value]... or @/path/to/file "
    "(keys: name region_size format workers batch max_inflight rate min_rate yield "
    "yield_window copy_on_read paused commit_interval retries retry_delay direct; see handler_clone(8))";

static struct tcmur_handler clone_handler = {
    .name = "lunclone: live writable clone hydrating onto a destination",
    .subtype = HC_CFG_SUBTYPE,
    .cfg_desc = clone_cfg_desc,
    .check_config = clone_check_config,
    .open = clone_open,
    .close = clone_close,
    .nr_threads = HC_THREADS_MAX, /* handler_init() sets it by the CPUs */
    .handle_cmd = clone_handle_cmd,
    .read = clone_read,
    .write = clone_write,
    .flush = clone_flush,
    .unmap = clone_unmap,
};

static int nr_work_threads(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	/* Unknown (-1) or many: the most. */
	if (cpus < 1 || cpus > HC_THREADS_MAX / HC_THREADS_PER_CPU)
		return HC_THREADS_MAX;
	return cpus * HC_THREADS_PER_CPU < HC_THREADS_MIN ? HC_THREADS_MIN
							  : (int)cpus * HC_THREADS_PER_CPU;
}

/* The one symbol tcmu-runner looks up (dlsym) after dlopen. */
int handler_init(void);

int handler_init(void)
{
	int r;

	r = pthread_key_create(&bounce_key, bounce_free);
	if (r != 0) {
		tcmu_err("clone: cannot create the bounce buffer key: %s\n", strerror(r));
		return -r;
	}
	/* Read by tcmu-runner when it opens a device, after this. */
	clone_handler.nr_threads = nr_work_threads();
	return tcmur_register_handler(&clone_handler);
}
