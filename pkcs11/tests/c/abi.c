/* The C ABI of libasan_pkcs11.so as a C application sees it, without a
 * card: the v3.0 interface entry points, the function lists (no null
 * pointer in either), argument checks (null pointers, short buffers,
 * reserved fields) and the functions the module does not offer.
 * Usage: abi MODULE  (exit 0 on success, a message and 1 otherwise). */
#include <dlfcn.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <p11-kit/pkcs11.h>

/* The v3.0 parts p11-kit's 2.40 header lacks (PKCS#11 3.0, section 5). */
typedef struct { CK_UTF8CHAR *pInterfaceName; void *pFunctionList; CK_FLAGS flags; } IFACE;
typedef CK_RV (*GetInterfaceList)(IFACE *, CK_ULONG *);
typedef CK_RV (*GetInterface)(CK_UTF8CHAR *, CK_VERSION *, IFACE **, CK_FLAGS);
typedef CK_RV (*LoginUser)(CK_SESSION_HANDLE, CK_USER_TYPE, CK_UTF8CHAR *, CK_ULONG, CK_UTF8CHAR *, CK_ULONG);
/* The 3.0 list: the 2.40 one, then C_GetInterfaceList, C_GetInterface,
 * C_LoginUser, C_SessionCancel and 20 message functions. */
#define EXTRA_FUNCTIONS 24

#define CHECK(cond, what) do { if (!(cond)) { fprintf(stderr, "%s (line %d)\n", what, __LINE__); return 1; } } while (0)
#define RV(call, want) do { CK_RV r_ = (call); if (r_ != (want)) { fprintf(stderr, "%s: rv 0x%lx, expected 0x%lx\n", #call, (unsigned long)r_, (unsigned long)(want)); return 1; } } while (0)

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: abi MODULE\n"); return 1; }
    void *lib = dlopen(argv[1], RTLD_NOW);
    CHECK(lib, dlerror());
    GetInterfaceList list = (GetInterfaceList)dlsym(lib, "C_GetInterfaceList");
    GetInterface get_interface = (GetInterface)dlsym(lib, "C_GetInterface");
    CK_C_GetFunctionList get_list = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
    CHECK(list && get_interface && get_list, "entry points missing");

    /* Two interfaces, both "PKCS 11": 3.0 and 2.40. */
    CK_ULONG n = 0;
    RV(list(NULL, &n), CKR_OK);
    CHECK(n == 2, "two interfaces");
    IFACE ifs[2];
    CK_ULONG small = 1;
    RV(list(ifs, &small), CKR_BUFFER_TOO_SMALL);
    CHECK(small == 2, "the count after a short buffer");
    RV(list(ifs, &n), CKR_OK);
    RV(list(ifs, NULL), CKR_ARGUMENTS_BAD);
    for (int i = 0; i < 2; i++)
        CHECK(strcmp((char *)ifs[i].pInterfaceName, "PKCS 11") == 0, "interface name");
    CK_VERSION *v0 = (CK_VERSION *)ifs[0].pFunctionList;
    CK_VERSION *v1 = (CK_VERSION *)ifs[1].pFunctionList;
    CHECK(v0->major == 3 && v0->minor == 0, "first interface is 3.0");
    CHECK(v1->major == 2 && v1->minor == 40, "second interface is 2.40");

    IFACE *chosen = NULL;
    RV(get_interface(NULL, NULL, &chosen, 0), CKR_OK);
    CHECK(((CK_VERSION *)chosen->pFunctionList)->major == 3, "default interface is 3.0");
    /* Callers may write into it (pkcs11-spy does): it is not read-only. */
    volatile CK_FLAGS *flags = &chosen->flags;
    *flags = 0;
    CK_VERSION want = { 2, 40 };
    RV(get_interface((CK_UTF8CHAR *)"PKCS 11", &want, &chosen, 0), CKR_OK);
    CHECK(((CK_VERSION *)chosen->pFunctionList)->minor == 40, "2.40 on request");
    CK_VERSION other = { 2, 20 };
    RV(get_interface((CK_UTF8CHAR *)"PKCS 11", &other, &chosen, 0), CKR_ARGUMENTS_BAD);
    RV(get_interface((CK_UTF8CHAR *)"Vendor", NULL, &chosen, 0), CKR_ARGUMENTS_BAD);
    RV(get_interface(NULL, NULL, NULL, 0), CKR_ARGUMENTS_BAD);

    /* No null pointer anywhere in the 3.0 list (it includes the 2.40 one). */
    CK_FUNCTION_LIST_PTR f3 = (CK_FUNCTION_LIST_PTR)ifs[0].pFunctionList;
    size_t first = offsetof(CK_FUNCTION_LIST, C_Initialize);
    void **fns = (void **)((char *)f3 + first);
    size_t v2 = (sizeof(CK_FUNCTION_LIST) - first) / sizeof(void *);
    for (size_t i = 0; i < v2 + EXTRA_FUNCTIONS; i++) CHECK(fns[i] != NULL, "a null function pointer");
    CHECK(fns[v2] == (void *)list && fns[v2 + 1] == (void *)get_interface, "interface functions in the 3.0 list");
    LoginUser login_user = (LoginUser)fns[v2 + 2];

    CK_FUNCTION_LIST_PTR p11 = NULL;
    RV(get_list(&p11), CKR_OK);
    RV(get_list(NULL), CKR_ARGUMENTS_BAD);
    CHECK(p11->version.major == 2 && p11->version.minor == 40, "C_GetFunctionList gives 2.40");

    /* Before C_Initialize. */
    CK_INFO info;
    RV(p11->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
    CK_C_INITIALIZE_ARGS args = { 0 };
    args.pReserved = &args;
    RV(p11->C_Initialize(&args), CKR_ARGUMENTS_BAD);
    CK_C_INITIALIZE_ARGS partial = { 0 };
    partial.CreateMutex = (CK_CREATEMUTEX)1; /* only one of the four */
    RV(p11->C_Initialize(&partial), CKR_ARGUMENTS_BAD);
    RV(p11->C_Initialize(NULL), CKR_OK);
    RV(p11->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);

    RV(p11->C_GetInfo(&info), CKR_OK);
    CHECK(info.cryptokiVersion.major == 2 && info.cryptokiVersion.minor == 40, "cryptoki version");
    RV(p11->C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
    RV(p11->C_GetSlotList(CK_FALSE, NULL, NULL), CKR_ARGUMENTS_BAD);
    CK_ULONG slots = 0;
    RV(p11->C_GetSlotList(CK_FALSE, NULL, &slots), CKR_OK);
    CHECK(slots % 2 == 0, "two slots per reader");
    if (slots > 0) {
        CK_SLOT_ID one[1];
        CK_ULONG room = 1;
        RV(p11->C_GetSlotList(CK_FALSE, one, &room), slots > 1 ? CKR_BUFFER_TOO_SMALL : CKR_OK);
        CHECK(room == slots, "the count after a short buffer");
        CK_SLOT_INFO si;
        RV(p11->C_GetSlotInfo(0, &si), CKR_OK);
        CHECK(si.flags & CKF_REMOVABLE_DEVICE, "removable");
        RV(p11->C_GetSlotInfo(0, NULL), CKR_ARGUMENTS_BAD);
        CK_MECHANISM_TYPE mechs[8];
        CK_ULONG nm = 8;
        RV(p11->C_GetMechanismList(0, mechs, &nm), CKR_OK);
        CHECK(nm == 2 && mechs[0] == CKM_ECDSA && mechs[1] == CKM_ECDSA_SHA256, "mechanisms");
        CK_MECHANISM_INFO mi;
        RV(p11->C_GetMechanismInfo(0, CKM_ECDSA, &mi), CKR_OK);
        CHECK(mi.ulMinKeySize == 256 && (mi.flags & CKF_SIGN), "ECDSA info");
        RV(p11->C_GetMechanismInfo(0, CKM_RSA_PKCS, &mi), CKR_MECHANISM_INVALID);
    }
    RV(p11->C_GetSlotInfo(1000000, &(CK_SLOT_INFO){0}), CKR_SLOT_ID_INVALID);
    CK_SESSION_HANDLE s;
    RV(p11->C_OpenSession(1000000, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_SLOT_ID_INVALID);
    RV(p11->C_CloseSession(12345), CKR_SESSION_HANDLE_INVALID);
    RV(p11->C_Sign(12345, NULL, 0, NULL, NULL), CKR_ARGUMENTS_BAD);
    CK_ULONG len = 0;
    RV(p11->C_Sign(12345, NULL, 0, NULL, &len), CKR_SESSION_HANDLE_INVALID);

    /* What the module does not offer. */
    RV(p11->C_GenerateKeyPair(0, NULL, NULL, 0, NULL, 0, NULL, NULL), CKR_FUNCTION_NOT_SUPPORTED);
    RV(p11->C_Encrypt(0, NULL, 0, NULL, NULL), CKR_FUNCTION_NOT_SUPPORTED);
    RV(p11->C_CreateObject(0, NULL, 0, NULL), CKR_FUNCTION_NOT_SUPPORTED);
    RV(p11->C_InitToken(0, NULL, 0, NULL), CKR_FUNCTION_NOT_SUPPORTED);
    RV(f3->C_DigestInit(0, NULL), CKR_FUNCTION_NOT_SUPPORTED);
    RV(login_user(0, CKU_USER, NULL, 0, NULL, 0), CKR_FUNCTION_NOT_SUPPORTED);

    CK_SLOT_ID ev;
    RV(p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL), CKR_ARGUMENTS_BAD);
    CK_RV r = p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, &ev, NULL);
    CHECK(r == CKR_NO_EVENT || r == CKR_OK, "C_WaitForSlotEvent(CKF_DONT_BLOCK)");

    RV(p11->C_Finalize(&args), CKR_ARGUMENTS_BAD);
    RV(p11->C_Finalize(NULL), CKR_OK);
    RV(p11->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
    printf("abi: ok\n");
    return 0;
}
