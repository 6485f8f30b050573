/*
 * commands.h - the entry points of main.c's dispatch table, one per cmd_*.c file. Each
 * takes the command's arguments (argv[0] is the command's name) and returns the exit
 * status: 0, 1 for an error, 2 for a usage error.
 */
#ifndef PADIM_CLI_COMMANDS_H
#define PADIM_CLI_COMMANDS_H

int cmd_fit(int argc, char **argv);   /* cmd_fit.c */
int cmd_score(int argc, char **argv); /* cmd_score.c */
int cmd_info(int argc, char **argv);  /* cmd_info.c */
int cmd_eval(int argc, char **argv);  /* cmd_eval.c */
int cmd_bench(int argc, char **argv); /* cmd_bench.c */
int cmd_demo(int argc, char **argv);  /* cmd_demo.c */
int cmd_calibrate(int argc, char **argv); /* cmd_calibrate.c */

#endif
