"""Deployment: the upstream offline-inference chain, prediction, ONNX evaluation, int8 and an inference benchmark.

One implementation serves every model folder; each folder's ``preprocess.py`` / ``postprocess.py`` /
``predict.py`` / ``eval_onnx.py`` / ``quantize.py`` and ``scripts/run_infer_310.sh`` only name their recipe.

    python -m model_zoo.engine.deploy COMMAND --model NAME [--key=value ...] [IMAGES ...]

Commands (every flag of the recipe's YAML is accepted too, e.g. ``--config_path``, ``--image_size``):

* ``preprocess``  ImageNet layout: ``imagenet_label.json`` ({file name: class index}) and ``imagenet_label.txt``
  (``img_id:label`` lines) from the sorted class folders; CIFAR-10: the eval batches as ``00_data/*.bin`` plus
  ``cifar10_label_ids.npy``; all under ``--result_path`` (default ``./preprocess_Result/``).
* ``infer``       the 310 app's work on CPU/GPU: a MINDIR (``mindspore.load`` + ``nn.GraphCell``) or ONNX
  (onnxruntime) over a folder of images or ``.bin`` batches -> ``result_Files/<name>_0.bin`` (float32 outputs, or
  float16 with ``--result_dtype float16``) and ``time_Result/test_perform_static.txt``.
* ``postprocess`` result files + labels -> top-1 / top-5, printed with the recipe's ``eval.py`` lines
  (``--result_dtype float16`` for the results of a graph exported with ``--export_fp16``, as an upstream recipe did).
* ``predict``     top-k labels and probabilities of images from a checkpoint, MINDIR or ONNX.
* ``eval_onnx``   ``eval.py`` on an exported ONNX (or MINDIR) file, same lines.
* ``quantize``    static int8 quantisation of an ONNX file (onnxruntime), calibrated on images covering every
  class; accuracy and speed before and after.
* ``benchmark``   latency p50/p90 and throughput of the network in MindSpore, its MINDIR, ONNX and int8 ONNX.
"""
