/* blobsize: for each line of stdin (one JSON object), the size libubox
 * gives it as a blobmsg table: blob_len of the buffer after
 * blobmsg_add_json_from_string, which converts each member as rpcd's exec
 * plugin glue does. Prints one number per line, -1 when libubox refuses
 * the line. Built and run by TestBlobSizeMatchesLibubox. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libubox/blobmsg_json.h>

int main(void)
{
	static struct blob_buf b;
	size_t cap = 0;
	char *line = NULL;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = 0;
		blob_buf_init(&b, 0);
		if (!blobmsg_add_json_from_string(&b, line))
			printf("-1\n");
		else
			printf("%u\n", blob_len(b.head));
	}
	free(line);
	blob_buf_free(&b);
	return 0;
}
