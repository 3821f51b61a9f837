"""Trellis's built-in user pool: Cognito's Identity Provider API, served on Trellis's own port.

botocore's ``cognito-idp`` client (``endpoint_url`` = the Trellis server) drives it; tokens are
RS256 JWTs shaped like Cognito's and verified in-process for AMAZON_COGNITO_USER_POOLS.

Modules, one concept each::

    config      [auth.user_pool] -> UserPoolConfig
    errors      CognitoError: Cognito's error codes and messages
    params      request validation (types, lengths, required members)
    passwords   scrypt hashing (memory-hard), Cognito's default password policy
    totp        RFC 6238 codes (SHA-1, 30 s, 6 digits)
    sealing     AES-GCM for secrets at rest (MFA secrets, the signing key)
    keys        the pool's RS256 key pair, kept in the database; JWKS
    tables      the trellis_userpool_* tables
    store       reads and writes them through SqlDatabase
    sender      CodeSender: how confirmation codes reach users (default: the server log)
    pool        UserPool: everything above wired together, plus tokens and throttling
    accounts    SignUp, ConfirmSignUp, ForgotPassword, ...
    sessions    InitiateAuth, RespondToAuthChallenge, MFA, GetUser, GlobalSignOut
    admin       Admin* calls, SigV4-signed and IAM-authorised
    service     the AwsJsonService dispatching X-Amz-Target operations
    authorizer  AMAZON_COGNITO_USER_POOLS mode for the pool's own tokens
    http        the JWKS and openid-configuration routes under the issuer
    setup       wiring into app.runtime (the pool from settings, its service)
"""
