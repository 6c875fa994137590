/* Fork safety of libasan_pkcs11.so, as a C application meets it:
 * initialise, fork; the child finds the module not initialised for it
 * (CKR_CRYPTOKI_NOT_INITIALIZED, never its parent's PC/SC handles),
 * initialises again and sees the same slots; the parent, after the child
 * has finished and exited, still works on its own handles.
 * Usage: fork MODULE  (exit 0 on success, a message and 1 otherwise). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR p11;

static int fail(const char *what, CK_RV rv) {
    fprintf(stderr, "%s: rv 0x%lx\n", what, (unsigned long)rv);
    return 1;
}

static CK_RV slots(CK_ULONG *count) {
    *count = 0;
    return p11->C_GetSlotList(CK_FALSE, NULL, count);
}

int main(int argc, char **argv) {
    if (argc != 2) return fail("usage: fork MODULE", 0);
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
    if (!get) return fail("no C_GetFunctionList", 0);
    CK_RV rv = get(&p11);
    if (rv != CKR_OK) return fail("C_GetFunctionList", rv);
    CK_C_INITIALIZE_ARGS args = { 0 };
    args.flags = CKF_OS_LOCKING_OK;
    if ((rv = p11->C_Initialize(&args)) != CKR_OK) return fail("C_Initialize", rv);
    CK_ULONG before;
    if ((rv = slots(&before)) != CKR_OK) return fail("C_GetSlotList (parent)", rv);
    if (before == 0) return fail("no slots (is pcscd with vpcd running?)", 0);

    pid_t child = fork();
    if (child < 0) return fail("fork", 0);
    if (child == 0) {
        CK_ULONG n;
        rv = slots(&n);
        if (rv != CKR_CRYPTOKI_NOT_INITIALIZED) _exit(fail("child before C_Initialize", rv));
        if ((rv = p11->C_Initialize(&args)) != CKR_OK) _exit(fail("child C_Initialize", rv));
        if ((rv = slots(&n)) != CKR_OK) _exit(fail("child C_GetSlotList", rv));
        if (n != before) _exit(fail("child sees another number of slots", n));
        if ((rv = p11->C_Finalize(NULL)) != CKR_OK) _exit(fail("child C_Finalize", rv));
        _exit(0);
    }
    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fail("the child failed", (CK_RV)status);
    CK_ULONG after;
    if ((rv = slots(&after)) != CKR_OK) return fail("C_GetSlotList (parent, after the child)", rv);
    if (after != before) return fail("the parent lost slots", after);
    if ((rv = p11->C_Initialize(&args)) != CKR_CRYPTOKI_ALREADY_INITIALIZED)
        return fail("second C_Initialize in the parent", rv);
    if ((rv = p11->C_Finalize(NULL)) != CKR_OK) return fail("C_Finalize", rv);
    if ((rv = slots(&after)) != CKR_CRYPTOKI_NOT_INITIALIZED) return fail("after C_Finalize", rv);
    printf("fork: ok (%lu slots)\n", (unsigned long)before);
    return 0;
}
