// SPDX-License-Identifier: MIT
/*
 * The manager's TLS identity. Given none, it makes its own on first start:
 * a CA (ca.crt, the file agents and the CLI pin) and a server certificate
 * signed by it for every name and address in --tls-san plus localhost,
 * 127.0.0.1, ::1, the host's name and the address it listens on. Keys are P-256, files 0600 (the CA's certificate
 * 0644: it is public). A second manager given the same CA (--tls-ca-cert,
 * --tls-ca-key) signs its own server certificate, so one pinned CA serves
 * every manager.
 */
#include "manager.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/addr.h"

static EVP_PKEY *new_key(void)
{
	return EVP_EC_gen("P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -EINVAL;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EINVAL;
}

/* A certificate for key, named cn, signed by (issuer, issuer_key) or by
 * itself when issuer is NULL. san: "DNS:x,IP:y" or NULL for a CA. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, const char *san, int days)
{
	X509 *cert = X509_new();
	X509_NAME *name;
	uint8_t serial[16];
	BIGNUM *bn = NULL;

	if (!cert)
		return NULL;
	X509_set_version(cert, 2);
	randombytes_buf(serial, sizeof(serial));
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
		goto fail;
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), (long)days * 86400);
	X509_set_pubkey(cert, key);
	name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"weft", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
	if (san) {
		if (add_ext(cert, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
		    add_ext(cert, issuer, NID_key_usage, "critical,digitalSignature") ||
		    add_ext(cert, issuer, NID_ext_key_usage, "serverAuth") ||
		    add_ext(cert, issuer, NID_subject_alt_name, san))
			goto fail;
	} else {
		if (add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
		    add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
		    add_ext(cert, cert, NID_subject_key_identifier, "hash"))
			goto fail;
	}
	if (!X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()))
		goto fail;
	BN_free(bn);
	return cert;
fail:
	BN_free(bn);
	X509_free(cert);
	return NULL;
}

static int write_pem(const char *path, mode_t mode, X509 *cert, EVP_PKEY *key)
{
	char tmp[PATH_MAX_LEN];
	int fd, ok;
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	fchmod(fd, mode);
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -EIO;
	}
	ok = cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	if (fclose(f) || !ok || rename(tmp, path)) {
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *cert;

	if (!f)
		return NULL;
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return cert;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *key;

	if (!f)
		return NULL;
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return key;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	if (getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* The names agents will likely dial: the host's name, and the address the
 * manager listens on when it is a particular one. */
static void listen_names(struct manager *m, char *out, size_t len)
{
	union sockaddr_any sa;
	char host[64] = "", ip[INET6_ADDRSTRLEN] = "";

	if (!addr_parse_endpoint(&sa, m->listen)) {
		if (sa.sa.sa_family == AF_INET && sa.in4.sin_addr.s_addr != htonl(INADDR_ANY) &&
		    sa.in4.sin_addr.s_addr != htonl(INADDR_LOOPBACK))
			inet_ntop(AF_INET, &sa.in4.sin_addr, ip, sizeof(ip));
		else if (sa.sa.sa_family == AF_INET6 && !IN6_IS_ADDR_UNSPECIFIED(&sa.in6.sin6_addr) &&
			 !IN6_IS_ADDR_LOOPBACK(&sa.in6.sin6_addr))
			inet_ntop(AF_INET6, &sa.in6.sin6_addr, ip, sizeof(ip));
	}
	if (gethostname(host, sizeof(host) - 1) || !cluster_name_valid(host) || !strcmp(host, "localhost"))
		host[0] = '\0';
	snprintf(out, len, "%s%s%s%s", ip[0] ? ",IP:" : "", ip, host[0] ? ",DNS:" : "", host);
}

int tls_setup(struct manager *m, char *err, size_t errlen)
{
	char ca_crt[PATH_MAX_LEN], ca_key[PATH_MAX_LEN], crt[PATH_MAX_LEN], key[PATH_MAX_LEN], san[1400], extra[160];
	X509 *ca = NULL, *cert = NULL;
	EVP_PKEY *cakey = NULL, *skey = NULL;
	int ret = -EIO;

	if (m->tls_cert[0]) { /* the operator's own: used as is */
		snprintf(crt, sizeof(crt), "%s", m->tls_cert);
		snprintf(key, sizeof(key), "%s", m->tls_key);
		goto load;
	}
	snprintf(ca_crt, sizeof(ca_crt), "%s", m->tls_ca_cert[0] ? m->tls_ca_cert : "");
	snprintf(ca_key, sizeof(ca_key), "%s", m->tls_ca_key[0] ? m->tls_ca_key : "");
	if (!ca_crt[0]) {
		snprintf(ca_crt, sizeof(ca_crt), "%s/ca.crt", m->state_dir);
		snprintf(ca_key, sizeof(ca_key), "%s/ca.key", m->state_dir);
	}
	snprintf(crt, sizeof(crt), "%s/server.crt", m->state_dir);
	snprintf(key, sizeof(key), "%s/server.key", m->state_dir);
	ca = read_cert(ca_crt);
	cakey = read_key(ca_key);
	if ((!ca || !cakey) && m->tls_ca_cert[0]) {
		snprintf(err, errlen, "--tls-ca-cert %s / --tls-ca-key %s: cannot read a PEM certificate and key",
			 ca_crt, ca_key);
		goto out;
	}
	if (!ca || !cakey) {
		X509_free(ca);
		EVP_PKEY_free(cakey);
		cakey = new_key();
		ca = cakey ? make_cert(cakey, "weft cluster CA", NULL, NULL, NULL, 3650) : NULL;
		if (!ca || write_pem(ca_key, 0600, NULL, cakey) || write_pem(ca_crt, 0644, ca, NULL)) {
			snprintf(err, errlen, "cannot make the cluster CA in %s", m->state_dir);
			goto out;
		}
	}
	/* The server certificate is made anew at each start: its names follow
	 * --tls-san, and nothing pins it but the CA. */
	listen_names(m, extra, sizeof(extra));
	snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1%s%s%s", extra, m->tls_san[0] ? "," : "",
		 m->tls_san);
	skey = new_key();
	cert = skey ? make_cert(skey, "weft-manager", ca, cakey, san, 825) : NULL;
	if (!cert) {
		snprintf(err, errlen, "--tls-san \"%s\": give names as DNS:name or IP:address, comma-separated",
			 m->tls_san);
		goto out;
	}
	if (write_pem(key, 0600, NULL, skey) || write_pem(crt, 0644, cert, NULL)) {
		snprintf(err, errlen, "cannot write %s", crt);
		goto out;
	}
	snprintf(m->ca_path, sizeof(m->ca_path), "%s", ca_crt);
load:
	m->cert_pem = slurp(crt);
	m->key_pem = slurp(key);
	if (!m->cert_pem || !m->key_pem) {
		snprintf(err, errlen, "cannot read %s and %s", crt, key);
		goto out;
	}
	ret = 0;
out:
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(skey);
	return ret;
}
