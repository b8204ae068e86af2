// SPDX-License-Identifier: MIT
/*
 * One option parser for every command: each says which options it takes,
 * and every refusal names the option, quotes the value and says what to
 * give instead.
 */
#include "weft.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "ipam/ipam.h"
#include "util/addr.h"

enum {
	O_JSON = 256,
	O_SOCKET,
	O_MANAGER,
	O_CA,
	O_TOKEN_FILE,
	O_CONFIG,
	O_TTL,
	O_NO_PING,
	O_DIR,
	O_NODES,
	O_PODS,
	O_MODE,
	O_NO_IPV6,
	O_BACKEND,
	O_CLUSTER_ID,
	O_CABLE_DRIVER,
	O_CIDR,
	O_ALLOW,
	O_DENY,
	O_READER,
	O_WAIT,
};

static const struct option longopts[] = {
	{ "json", no_argument, NULL, O_JSON },
	{ "socket", required_argument, NULL, O_SOCKET },
	{ "manager", required_argument, NULL, O_MANAGER },
	{ "ca", required_argument, NULL, O_CA },
	{ "token-file", required_argument, NULL, O_TOKEN_FILE },
	{ "config", required_argument, NULL, O_CONFIG },
	{ "ttl", required_argument, NULL, O_TTL },
	{ "no-ping", no_argument, NULL, O_NO_PING },
	{ "dir", required_argument, NULL, O_DIR },
	{ "nodes", required_argument, NULL, O_NODES },
	{ "pods", required_argument, NULL, O_PODS },
	{ "mode", required_argument, NULL, O_MODE },
	{ "no-ipv6", no_argument, NULL, O_NO_IPV6 },
	{ "backend", required_argument, NULL, O_BACKEND },
	{ "output", required_argument, NULL, 'o' },
	{ "cluster-id", required_argument, NULL, O_CLUSTER_ID },
	{ "cable-driver", required_argument, NULL, O_CABLE_DRIVER },
	{ "cidr", required_argument, NULL, O_CIDR },
	{ "allow", no_argument, NULL, O_ALLOW },
	{ "deny", no_argument, NULL, O_DENY },
	{ "reader", no_argument, NULL, O_READER },
	{ "wait", required_argument, NULL, O_WAIT },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* The group each option belongs to (OPT_*), 0 for --help. */
static unsigned group_of(int opt)
{
	switch (opt) {
	case O_JSON:
		return OPT_JSON;
	case O_SOCKET:
		return OPT_SOCKET;
	case O_MANAGER:
	case O_CA:
	case O_TOKEN_FILE:
	case O_CONFIG:
		return OPT_MANAGER;
	case O_TTL:
		return OPT_TTL;
	case O_NO_PING:
		return OPT_NO_PING;
	case O_ALLOW:
	case O_DENY:
		return OPT_GRANT;
	case O_READER:
		return OPT_READER;
	case O_WAIT:
		return OPT_WAIT;
	case O_DIR:
		return OPT_LAB;
	case 'o':
		return OPT_OUTPUT;
	case O_CLUSTER_ID:
	case O_CABLE_DRIVER:
	case O_CIDR:
		return OPT_JOIN;
	default:
		return opt == 'h' ? 0 : OPT_LAB_UP;
	}
}

static int vsay(const struct opts *o, int status, const char *fmt, va_list ap)
{
	fprintf(stderr, "weft%s%s: ", o && o->cmd ? " " : "", o && o->cmd ? o->cmd : "");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	return status;
}

int usage_error(const struct opts *o, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vsay(o, EXIT_USAGE, fmt, ap);
	va_end(ap);
	return ret;
}

int failure(const struct opts *o, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vsay(o, EXIT_FAIL, fmt, ap);
	va_end(ap);
	return ret;
}

int64_t opts_duration(const char *s, int64_t min, int64_t max)
{
	static const struct {
		char suffix;
		int64_t seconds;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	char digits[24];
	size_t n = strlen(s);
	int64_t unit = 1;
	uint64_t v;

	if (!n || n >= sizeof(digits))
		return -1;
	memcpy(digits, s, n + 1);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); ++i)
		if (digits[n - 1] == units[i].suffix) {
			unit = units[i].seconds;
			digits[--n] = '\0';
			break;
		}
	if (!n || addr_parse_u64(digits, (uint64_t)max / (uint64_t)unit, &v))
		return -1;
	v *= (uint64_t)unit;
	return (int64_t)v < min || (int64_t)v > max ? -1 : (int64_t)v;
}

static int count(struct opts *o, const char *flag, const char *val, unsigned max, unsigned *out)
{
	uint64_t v;

	if (addr_parse_u64(val, max, &v) || !v)
		return usage_error(o, "%s \"%s\": give a whole number from 1 to %u", flag, val, max);
	*out = (unsigned)v;
	return -1;
}

/* A CIDR, with no host bits: 10.245.0.1/16 is more likely a slip than
 * 10.245.0.0/16 meant, and the broker compares the networks of clusters. */
static int cidr(struct opts *o, const char *val)
{
	struct ipam_prefix p;
	char net[ADDR_STRLEN];
	uint8_t *b = (uint8_t *)&p.addr;
	unsigned bytes;
	bool host = false;

	if (o->ncidrs == CIDRS_MAX)
		return usage_error(o, "--cidr \"%s\": at most %d CIDRs", val, CIDRS_MAX);
	if (ipam_prefix_parse(&p, val))
		return usage_error(o, "--cidr \"%s\": give a CIDR such as 10.245.0.0/16 or fd00:245::/48", val);
	bytes = p.family == AF_INET ? 4 : 16;
	for (unsigned i = 0; i < bytes; ++i) {
		unsigned keep = p.len > 8 * i ? p.len - 8 * i : 0;
		uint8_t mask = keep >= 8 ? 0xff : (uint8_t)(0xff00 >> keep);

		host |= (b[i] & ~mask) != 0;
		b[i] &= mask;
	}
	if (host)
		return usage_error(o, "--cidr \"%s\": host bits are set; give the network, %s", val,
				   ipam_prefix_str(&p, net, sizeof(net)));
	o->cidrs[o->ncidrs++] = val;
	return -1;
}

/* One option's value, checked: -1 to go on, or EXIT_USAGE. */
static int take(struct opts *o, int opt, const char *val)
{
	switch (opt) {
	case O_JSON:
		o->json = true;
		break;
	case O_NO_PING:
		o->no_ping = true;
		break;
	case O_ALLOW:
	case O_DENY:
		if (o->grant && o->grant != (opt == O_ALLOW ? 1 : -1))
			return usage_error(o, "give --allow or --deny, not both");
		o->grant = opt == O_ALLOW ? 1 : -1;
		break;
	case O_READER:
		o->reader = true;
		break;
	case O_WAIT:
		if ((o->wait = opts_duration(val, 1, 3600)) < 0)
			return usage_error(o, "--wait \"%s\": give seconds from 1 to 3600, or a duration such as 90s, 5m",
					   val);
		break;
	case O_NO_IPV6:
		o->ipv6 = false;
		break;
	case O_SOCKET:
		if (!*val || strlen(val) >= 108)
			return usage_error(o, "--socket \"%s\": give the agent's socket path (under 108 characters)", val);
		o->socket = val;
		break;
	case O_MANAGER:
		o->manager = val;
		break;
	case O_CA:
		o->ca = val;
		break;
	case O_TOKEN_FILE:
		o->token_file = val;
		break;
	case O_CONFIG:
		o->config = val;
		break;
	case O_TTL:
		if ((o->ttl = opts_duration(val, 60, 366 * 86400)) < 0)
			return usage_error(o, "--ttl \"%s\": give seconds from 60 to 31622400 (366 days), "
					      "or a duration such as 90m, 12h, 7d", val);
		break;
	case O_DIR:
		/* The agents' sockets live under it, and a socket path is short. */
		if (val[0] != '/' || strlen(val) > 80)
			return usage_error(o, "--dir \"%s\": give an absolute path of at most 80 characters", val);
		o->dir = val;
		break;
	case O_NODES:
		return count(o, "--nodes", val, 50, &o->nodes);
	case O_PODS:
		if (!strcmp(val, "0")) {
			o->pods = 0;
			break;
		}
		return count(o, "--pods", val, 50, &o->pods);
	case O_MODE:
		if (strcmp(val, "mesh") && strcmp(val, "hub"))
			return usage_error(o, "--mode \"%s\": give mesh or hub", val);
		o->mode = val;
		break;
	case O_BACKEND:
		if (strcmp(val, "auto") && strcmp(val, "kernel") && strcmp(val, "userspace"))
			return usage_error(o, "--backend \"%s\": give auto, kernel or userspace", val);
		o->backend = val;
		break;
	case 'o':
		if (!*val)
			return usage_error(o, "--output \"\": give a file name, such as broker-info.subm");
		o->output = val;
		break;
	case O_CLUSTER_ID:
		/* The cluster's name at the broker, where clusters are its nodes. */
		if (!cluster_name_valid(val))
			return usage_error(o, "--cluster-id \"%s\": give a DNS label (1 to 63 of a-z, 0-9 and '-', not "
					      "starting or ending with '-'), such as east", val);
		o->cluster_id = val;
		break;
	case O_CABLE_DRIVER:
		if (strcmp(val, "wireguard"))
			return usage_error(o, "--cable-driver \"%s\": weft has the wireguard cable driver only", val);
		o->cable_driver = val;
		break;
	case O_CIDR:
		return cidr(o, val);
	}
	return -1;
}

int opts_parse(struct opts *o, const char *cmd, const char *usage, unsigned accepts, int argc, char **argv)
{
	int opt, idx, ret;

	memset(o, 0, sizeof(*o));
	o->cmd = cmd;
	o->ipv6 = true;
	o->nodes = 3;
	o->pods = 2;
	o->mode = "mesh";
	o->backend = "auto";
	optind = 0; /* anew: several commands may parse in one process (tests) */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":ho:", longopts, &idx)) != -1) {
		const char *bad = argv[optind - 1];

		if (opt == 'h') {
			printf("%s", usage);
			return EXIT_OK;
		}
		if (opt == '?') {
			if (optopt >= 256)
				return usage_error(o, "\"%s\": that option takes no value; see weft %s --help", bad, cmd);
			if (optopt)
				return usage_error(o, "unknown option \"-%c\"; see weft %s --help", optopt, cmd);
			return usage_error(o, "unknown option \"%s\"; see weft %s --help", bad, cmd);
		}
		if (opt == ':')
			return usage_error(o, "%s needs a value; see weft %s --help", bad, cmd);
		if (!(group_of(opt) & accepts))
			return usage_error(o, "--%s is not an option of \"weft %s\"; see weft %s --help",
					   opt == 'o' ? "output" : longopts[idx].name, cmd, cmd); /* -o sets no idx */
		if ((ret = take(o, opt, optarg)) >= 0)
			return ret;
	}
	for (; optind < argc; ++optind) {
		if (o->nargs == ARGS_MAX)
			return usage_error(o, "too many arguments; see weft %s --help", cmd);
		o->args[o->nargs++] = argv[optind];
	}
	return -1;
}

int subcommand_run(const char *cmd, const char *usage, const struct subcommand *subs, int argc, char **argv)
{
	struct opts o = { .cmd = cmd };
	char names[256];
	size_t off = 0;
	const struct subcommand *s;

	for (s = subs; s->name; ++s)
		off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s", off ? ", " : "", s->name);
	if (argc < 2)
		return usage_error(&o, "give a subcommand: %s; see weft %s --help", names, cmd);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		printf("%s", usage);
		return EXIT_OK;
	}
	for (s = subs; s->name; ++s)
		if (!strcmp(s->name, argv[1]))
			return s->fn(argc - 1, argv + 1);
	return usage_error(&o, "unknown subcommand \"%s\": give %s; see weft %s --help", argv[1], names, cmd);
}

int opts_one_name(const struct opts *o, const char *what, const char *lister)
{
	if (o->nargs != 1)
		return usage_error(o, "give one %s name (%s lists them)", what, lister);
	if (!cluster_name_valid(o->args[0]))
		return usage_error(o, "\"%s\" is not a %s name (a DNS label: a-z, 0-9 and '-', at most 63)", o->args[0],
				   what);
	return -1;
}
