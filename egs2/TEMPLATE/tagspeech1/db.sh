# Where the corpora live on this machine. Recipes read their variable from here;
# set it (or export it before run.sh) when you have the corpus.
AMI=${AMI:-}                 # dir with amicorpus/<meeting>/audio and ami_public_manual_1.6.2
ALIMEETING=${ALIMEETING:-}   # dir with Train_Ali_far, Eval_Ali_far, Test_Ali_far
