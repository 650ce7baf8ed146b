# Training: one model per half and seed, on the shared training pairs plus its half's
# candidates (docs/METHOD.md, Models).


rule train_model:
    input:
        data=P.data_bin,
    output:
        checkpoint=P.checkpoint,
        training=P.training,
    log:
        P.log("train_model"),
    benchmark:
        P.benchmark("train_model")
    conda:
        "../envs/pipeline.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        hyper=MODEL_HYPERPARAMETERS,
        code=code("train_model.py"),
    script:
        "../workflow_scripts/train_model.py"
